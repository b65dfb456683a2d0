//! Agents: what they are (role, capabilities, executor) and what they are doing (status).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::names::{AgentName, Capability, Role};
use super::strict_json::Strict;

/// Most capabilities one agent may declare or one task may require.
pub const MAX_CAPABILITIES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Idle,
    Busy,
    Restarting,
    Stopped,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Idle => "idle",
            AgentStatus::Busy => "busy",
            AgentStatus::Restarting => "restarting",
            AgentStatus::Stopped => "stopped",
        }
    }

    pub const ALL: [AgentStatus; 4] = [
        AgentStatus::Idle,
        AgentStatus::Busy,
        AgentStatus::Restarting,
        AgentStatus::Stopped,
    ];
}

/// How an agent does its work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExecutorSpec {
    /// Built-in operations for tests and load: echo, sleep, spin, fail, panic.
    // Braced, not a unit variant: serde lets a tagged unit variant through with fields it does
    // not have, whatever `deny_unknown_fields` says.
    Builtin {},
    /// Runs `program` (which the server's `allow_exec` must list) with the task's `args` and
    /// `stdin`, never through a shell. Task input: `{"args":["…"],"stdin":"…"}`.
    Command {
        #[schema(value_type = String, example = "/usr/bin/env", pattern = "^/", max_length = 2048)]
        program: ProgramPath,
    },
    /// POSTs the task's input as JSON to `url`; the result is the answer's status and body.
    Http {
        #[schema(value_type = String, example = "http://127.0.0.1:9000/run", max_length = 2048)]
        url: HttpUrl,
    },
    /// Runs `program` (which `allow_exec` must list) for as long as the agent lives, and hands it
    /// each task as a line of JSON on its stdin; it answers on stdout (see docs/agents.md).
    Process {
        #[schema(value_type = String, example = "/usr/bin/python3", pattern = "^/", max_length = 2048)]
        program: ProgramPath,
        #[serde(default)]
        #[schema(value_type = Vec<String>, max_items = 64)]
        args: ProcessArgs,
        /// Variables added to the program's environment (beside the server's `exec_env`): names
        /// of letters, digits and `_`, none of the dynamic loader's (`LD_*`, `GCONV_PATH`, …).
        #[serde(default)]
        #[schema(value_type = std::collections::HashMap<String, String>)]
        env: ProcessEnv,
        #[serde(default)]
        limits: ProcessLimits,
    },
}

/// Most arguments or environment variables a process agent may be given.
const MAX_PROCESS_ITEMS: usize = 64;
/// Longest argument, variable name or value.
const MAX_PROCESS_ITEM_LEN: usize = 4096;

fn check_process_item(item: &str, what: &str) -> Result<(), String> {
    if item.len() > MAX_PROCESS_ITEM_LEN {
        return Err(format!(
            "each {what} must be at most {MAX_PROCESS_ITEM_LEN} bytes"
        ));
    }
    if item.contains('\0') {
        return Err(format!("an {what} must not contain a NUL byte"));
    }
    Ok(())
}

/// A process agent's arguments: bounded in number and length, without NUL bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct ProcessArgs(pub Vec<String>);

impl TryFrom<Vec<String>> for ProcessArgs {
    type Error = String;

    fn try_from(args: Vec<String>) -> Result<Self, String> {
        if args.len() > MAX_PROCESS_ITEMS {
            return Err(format!("at most {MAX_PROCESS_ITEMS} arguments"));
        }
        for arg in &args {
            check_process_item(arg, "argument")?;
        }
        Ok(Self(args))
    }
}

impl From<ProcessArgs> for Vec<String> {
    fn from(a: ProcessArgs) -> Self {
        a.0
    }
}

/// Variables that make the dynamic loader or the C library load code or data from where they say
/// (glibc's list of variables it drops for setuid programs): set by whoever creates an agent, they
/// would run code the operator never allow-listed inside a program that is.
const LOADER_VARIABLES: [&str; 12] = [
    "GCONV_PATH",
    "GETCONF_DIR",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "LOCPATH",
    "MALLOC_TRACE",
    "NIS_PATH",
    "NLSPATH",
    "RESOLV_HOST_CONF",
    "RES_OPTIONS",
    "TMPDIR",
    "TZDIR",
];

/// A process agent's own environment variables: names of letters, digits and `_`, none that
/// steers the dynamic loader (`LD_*` and the variables of `LOADER_VARIABLES`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "std::collections::BTreeMap<String, String>",
    into = "std::collections::BTreeMap<String, String>"
)]
pub struct ProcessEnv(pub std::collections::BTreeMap<String, String>);

impl TryFrom<std::collections::BTreeMap<String, String>> for ProcessEnv {
    type Error = String;

    fn try_from(env: std::collections::BTreeMap<String, String>) -> Result<Self, String> {
        if env.len() > MAX_PROCESS_ITEMS {
            return Err(format!("at most {MAX_PROCESS_ITEMS} variables"));
        }
        for (name, value) in &env {
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "{name:?} is not a variable name (letters, digits and '_', not first a digit)"
                ));
            }
            if name.starts_with("LD_") || LOADER_VARIABLES.contains(&name.as_str()) {
                return Err(format!(
                    "{name} steers the dynamic loader or the C library and may not be set: it \
                     would run code the operator did not allow"
                ));
            }
            check_process_item(value, "value")?;
        }
        Ok(Self(env))
    }
}

impl From<ProcessEnv> for std::collections::BTreeMap<String, String> {
    fn from(e: ProcessEnv) -> Self {
        e.0
    }
}

/// Resource limits of a process agent's program (`setrlimit`), each optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessLimits {
    /// Address space, in bytes (`RLIMIT_AS`).
    #[schema(minimum = 1048576)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// CPU time, in seconds (`RLIMIT_CPU`): over it the program is killed and the agent restarts.
    #[schema(minimum = 1)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<u64>,
    /// Open file descriptors (`RLIMIT_NOFILE`).
    #[schema(minimum = 8)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_files: Option<u64>,
}

impl ProcessLimits {
    /// Limits too small for any program to start are refused rather than crash-looping.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.memory_bytes.is_some_and(|m| m < 1 << 20) {
            return Err(("memory_bytes", "must be at least 1048576 (1 MiB)".into()));
        }
        if self.cpu_seconds == Some(0) {
            return Err(("cpu_seconds", "must be at least 1".into()));
        }
        if self.open_files.is_some_and(|n| n < 8) {
            return Err(("open_files", "must be at least 8".into()));
        }
        Ok(())
    }
}

/// Read by its `kind`, then the kind's own fields as a plain struct: serde's internally tagged
/// enums buffer the fields and lose their paths, so a wrong `program` would be reported as a
/// wrong `executor`. An error inside a kind's fields says where, as `at `path`: …`, which the
/// API turns into the field it names.
impl<'de> Deserialize<'de> for ExecutorSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        use serde_json::Value;

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Builtin {}
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Command {
            program: ProgramPath,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Http {
            url: HttpUrl,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Process {
            program: ProgramPath,
            #[serde(default)]
            args: ProcessArgs,
            #[serde(default)]
            env: ProcessEnv,
            #[serde(default)]
            limits: ProcessLimits,
        }

        fn fields<T: serde::de::DeserializeOwned, E: Error>(value: Value) -> Result<T, E> {
            serde_path_to_error::deserialize(Strict(value)).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path == "." {
                    E::custom(inner)
                } else {
                    E::custom(format!("at `{path}`: {inner}"))
                }
            })
        }

        let Value::Object(mut map) = Value::deserialize(deserializer)? else {
            return Err(D::Error::custom(
                "the executor must be an object with a \"kind\"",
            ));
        };
        let kind = match map.remove("kind") {
            Some(Value::String(kind)) => kind,
            Some(_) => return Err(D::Error::custom("at `kind`: must be a string")),
            None => return Err(D::Error::missing_field("kind")),
        };
        let rest = Value::Object(map);
        Ok(match kind.as_str() {
            "builtin" => fields::<Builtin, _>(rest).map(|Builtin {}| ExecutorSpec::Builtin {})?,
            "command" => {
                fields::<Command, _>(rest).map(|c| ExecutorSpec::Command { program: c.program })?
            }
            "http" => fields::<Http, _>(rest).map(|h| ExecutorSpec::Http { url: h.url })?,
            "process" => fields::<Process, _>(rest).map(|p| ExecutorSpec::Process {
                program: p.program,
                args: p.args,
                env: p.env,
                limits: p.limits,
            })?,
            other => {
                return Err(D::Error::custom(format!(
                    "at `kind`: unknown kind `{other}`, expected one of `builtin`, `command`, \
                     `http`, `process`"
                )))
            }
        })
    }
}

impl Default for ExecutorSpec {
    fn default() -> Self {
        ExecutorSpec::Builtin {}
    }
}

/// Longest program path or URL accepted.
const MAX_LOCATION_LEN: usize = 2048;

/// An absolute path to an executable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProgramPath(String);

impl TryFrom<String> for ProgramPath {
    type Error = String;

    fn try_from(path: String) -> Result<Self, String> {
        if path.len() > MAX_LOCATION_LEN {
            return Err(format!("must be at most {MAX_LOCATION_LEN} bytes"));
        }
        if !path.starts_with('/') || path.contains('\0') {
            return Err("the program must be an absolute path".into());
        }
        Ok(Self(path))
    }
}

impl From<ProgramPath> for String {
    fn from(p: ProgramPath) -> String {
        p.0
    }
}

impl ProgramPath {
    pub fn as_path(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

/// An `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HttpUrl(String);

impl TryFrom<String> for HttpUrl {
    type Error = String;

    fn try_from(url: String) -> Result<Self, String> {
        if url.len() > MAX_LOCATION_LEN {
            return Err(format!("must be at most {MAX_LOCATION_LEN} bytes"));
        }
        let parsed = reqwest::Url::parse(&url).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err("must be an http:// or https:// URL with a host".into());
        }
        Ok(Self(url))
    }
}

impl From<HttpUrl> for String {
    fn from(u: HttpUrl) -> String {
        u.0
    }
}

impl HttpUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL as readers see it: without any credentials it holds (creation refuses them now,
    /// but an agent stored before may carry some).
    pub fn shown(&self) -> String {
        match reqwest::Url::parse(&self.0) {
            Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
                let _ = url.set_username("");
                let _ = url.set_password(None);
                url.into()
            }
            _ => self.0.clone(),
        }
    }
}

impl ExecutorSpec {
    /// The spec as readers see it (see [`HttpUrl::shown`]).
    pub fn shown(&self) -> ExecutorSpec {
        match self {
            ExecutorSpec::Http { url } => ExecutorSpec::Http {
                url: HttpUrl(url.shown()),
            },
            other => other.clone(),
        }
    }
}

/// A list of capabilities, bounded in length and without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<Capability>")]
// Shared: the agents of one batch, and the retries of one task, hold the same list. One pointer
// (the slice sits boxed in the shared cell) where `Arc<[_]>` takes two, and none allocated for
// the empty list: every registry entry holds one.
pub struct Capabilities(Option<std::sync::Arc<Box<[Capability]>>>);

impl TryFrom<Vec<Capability>> for Capabilities {
    type Error = String;

    fn try_from(mut caps: Vec<Capability>) -> Result<Self, String> {
        if caps.len() > MAX_CAPABILITIES {
            return Err(format!("at most {MAX_CAPABILITIES} capabilities"));
        }
        caps.sort();
        caps.dedup();
        // Empty is always `None`, so that equal lists compare equal.
        Ok(Self(
            (!caps.is_empty()).then(|| std::sync::Arc::new(caps.into_boxed_slice())),
        ))
    }
}

impl Serialize for Capabilities {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.as_slice())
    }
}

impl Capabilities {
    fn as_slice(&self) -> &[Capability] {
        self.0.as_deref().map_or(&[], |caps| caps)
    }

    /// Whether every one of `required` is among these.
    pub fn cover(&self, required: &Capabilities) -> bool {
        let have = self.as_slice();
        required
            .as_slice()
            .iter()
            .all(|c| have.binary_search(c).is_ok())
    }

    pub fn names(&self) -> Vec<String> {
        self.as_slice().iter().map(|c| c.to_string()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

/// The body of `POST /api/v1/agents`, and the template of `POST /api/v1/agents/batch`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    pub role: Role,
    pub name: Option<AgentName>,
    #[serde(default)]
    #[schema(value_type = Vec<Capability>, max_items = 32)]
    pub capabilities: Capabilities,
    #[serde(default)]
    pub executor: ExecutorSpec,
    /// The agent's state when it starts (any JSON, at most the server's
    /// `max_agent_state_bytes`); null when left out.
    #[serde(default)]
    #[schema(value_type = Option<serde_json::Value>)]
    pub state: Option<serde_json::Value>,
    /// Topics it receives the messages of (at most 32).
    #[serde(default)]
    #[schema(value_type = Vec<super::names::Topic>, max_items = 32)]
    pub topics: super::names::Topics,
}

/// The bytes of `state` as stored (its JSON text), or why it is over `limit`.
pub fn check_state(state: &serde_json::Value, limit: usize) -> Result<usize, String> {
    let bytes = state.to_string().len();
    if bytes > limit {
        return Err(format!(
            "the state is {bytes} bytes of JSON, over max_agent_state_bytes ({limit})"
        ));
    }
    Ok(bytes)
}

/// An agent's id (a UUID's text), shared rather than copied: the registry, the agent's
/// supervisor and the orchestrator each name every agent, and with 100,000 agents each copy of
/// the ids was 4.8 MB. One pointer, as the names in `names` are.
pub type AgentId = arcstr::ArcStr;

/// What the agents of one batch have in common: what they do and what work they take.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentKind {
    pub role: Role,
    pub capabilities: Capabilities,
    pub executor: ExecutorSpec,
}

/// What Hive knows of an agent that does not change while it lives.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentInfo {
    /// Shared by everything that names the agent (registry, supervisor, orchestrator), so that
    /// its text is held once.
    pub id: AgentId,
    /// `None` for the default name, derived when shown rather than held (see [`Self::name`]);
    /// one pointer otherwise.
    pub name: Option<arcstr::ArcStr>,
    /// Shared by the agents of one batch, and by agents read back from the store one after
    /// another with the same kind: one pointer where role, capabilities and executor took
    /// three, which keeps a registry entry in jemalloc's 96-byte class.
    pub kind: std::sync::Arc<AgentKind>,
    pub created_at: i64,
    /// The node it runs on, when several share the database; one pointer, as in `names`.
    pub node: Option<arcstr::ArcStr>,
}

impl AgentInfo {
    /// The name given at creation, or the default: `<role>-<the id's last 8 characters>`.
    pub fn name(&self) -> std::borrow::Cow<'_, str> {
        match &self.name {
            Some(name) => std::borrow::Cow::Borrowed(name.as_str()),
            None => std::borrow::Cow::Owned(default_name(self.role(), &self.id)),
        }
    }

    pub fn role(&self) -> &Role {
        &self.kind.role
    }

    /// What to hold of `name`: nothing when it is the default, which most agents' is (16 bytes
    /// an agent).
    pub fn held_name(name: String, role: &Role, id: &str) -> Option<arcstr::ArcStr> {
        (name != default_name(role, id)).then(|| name.into())
    }
}

/// The name of an agent created without one: its role and the end of its id, which is what
/// tells agents of one batch apart (a v7 UUID's start is its creation time).
pub fn default_name(role: &Role, id: &str) -> String {
    format!("{role}-{}", name_suffix(id))
}

/// The last 8 characters of an id.
pub fn name_suffix(id: &str) -> &str {
    id.get(id.len().saturating_sub(8)..).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_location_limits_are_the_enforced_ones() {
        let schema =
            serde_json::to_value(<ExecutorSpec as utoipa::PartialSchema>::schema()).unwrap();
        for (variant, field) in [(1, "program"), (2, "url")] {
            let documented = &schema["oneOf"][variant]["properties"][field];
            assert_eq!(documented["maxLength"], MAX_LOCATION_LEN, "{documented}");
        }
        let at_limit = format!("/{}", "a".repeat(MAX_LOCATION_LEN - 1));
        assert!(ProgramPath::try_from(at_limit.clone()).is_ok());
        assert!(ProgramPath::try_from(format!("{at_limit}a")).is_err());
    }
}
