//! Range checks that types alone cannot express (a positive learning rate, a power of two).
//! Each config struct reports problems by dotted key; the loader places them in the file.

/// Collects range problems as (dotted key, message) pairs.
#[derive(Debug, Default)]
pub struct Checks {
    prefix: Vec<String>,
    pub(crate) problems: Vec<(String, String)>,
}

impl Checks {
    /// Record a problem with `key` (relative to the current section) unless `ok`.
    pub fn check(&mut self, key: &str, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            let path = self.path(key);
            self.problems.push((path, message()));
        }
    }

    /// Run `f` with keys relative to the sub-section `name`.
    pub fn section(&mut self, name: &str, f: impl FnOnce(&mut Checks)) {
        self.prefix.push(name.to_string());
        f(self);
        self.prefix.pop();
    }

    fn path(&self, key: &str) -> String {
        self.prefix
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(key))
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// Implemented by every config struct; the default accepts everything.
pub trait Validate {
    fn validate(&self, _checks: &mut Checks) {}
}
