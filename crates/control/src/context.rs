//! What a method sees: the runtime's handle and the embedder's [`RpcExtension`].

use serde_json::Value;
use sipwire::Transport;

use crate::error::RpcError;
use crate::events::Session;

/// Methods and counters added by the program that embeds the runtime (`sipwired` adds its
/// relay's). The extension is asked first, so it may also answer a built-in method its own way.
pub trait RpcExtension: Send + Sync {
    /// Answers `method` if it is one of the extension's: `Some(result)`; `None` passes the call
    /// on to the built-in methods. `params` are by position.
    fn call(&self, method: &str, params: &[Value]) -> Option<Result<Value, RpcError>>;

    /// The extension's methods as (name, one-line help), for `system.listMethods` and
    /// `system.methodHelp`.
    fn methods(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }

    /// Extra counters for `stats.get`, after the runtime's own. In `stats.get_statistics`,
    /// `stats.fetch` and `stats.fetchn` a counter named `group.name` (`relay.requests`) is
    /// counter `name` of group `group`; one without a dot is in group `sipwire`.
    fn stats(&self) -> Vec<(String, u64)> {
        Vec::new()
    }
}

/// What a method sees: the runtime, the embedder's extension, if any, and the control
/// connection the call came on, if any (`events.subscribe` needs one).
pub(crate) struct Ctx<'a> {
    pub transport: &'a Transport,
    pub ext: Option<&'a dyn RpcExtension>,
    pub session: Option<&'a dyn Session>,
}
