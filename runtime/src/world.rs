//! The worlds the platform serves and the imports it provides.

use crate::error::CompileError;
use wasmtime::Engine;
use wasmtime::component::Component;

/// What a component is invoked as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum World {
    /// `wasi:http/proxy` (exports `wasi:http/incoming-handler@0.2.x`) or
    /// `wasi:http/service` (exports `wasi:http/handler@0.3.x`).
    Http,
    /// `minicloud:platform/handler`: JSON in, JSON out.
    Handler,
}

impl World {
    /// The world's stable name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Handler => "handler",
        }
    }

    /// Parses [`World::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "http" => Some(Self::Http),
            "handler" => Some(Self::Handler),
            _ => None,
        }
    }
}

/// WASI 0.2 interfaces the linker provides (with the platform's deny-by-default
/// configuration behind them), by package then interface.
const PROVIDED: &[(&str, &[&str])] = &[
    ("wasi:io", &["error", "poll", "streams"]),
    ("wasi:clocks", &["monotonic-clock", "wall-clock"]),
    ("wasi:random", &["random", "insecure", "insecure-seed"]),
    ("wasi:filesystem", &["types", "preopens"]),
    (
        "wasi:sockets",
        &[
            "network",
            "instance-network",
            "udp",
            "udp-create-socket",
            "tcp",
            "tcp-create-socket",
            "ip-name-lookup",
        ],
    ),
    (
        "wasi:cli",
        &[
            "environment",
            "exit",
            "stdin",
            "stdout",
            "stderr",
            "terminal-input",
            "terminal-output",
            "terminal-stdin",
            "terminal-stdout",
            "terminal-stderr",
        ],
    ),
    ("wasi:http", &["types", "outgoing-handler"]),
];

/// WASI 0.3 interfaces the linker provides, as for [`PROVIDED`].
const PROVIDED_03: &[(&str, &[&str])] = &[
    (
        "wasi:clocks",
        &["types", "monotonic-clock", "system-clock", "timezone"],
    ),
    ("wasi:random", &["random", "insecure", "insecure-seed"]),
    ("wasi:filesystem", &["types", "preopens"]),
    ("wasi:sockets", &["types", "ip-name-lookup"]),
    (
        "wasi:cli",
        &[
            "types",
            "environment",
            "exit",
            "stdin",
            "stdout",
            "stderr",
            "terminal-input",
            "terminal-output",
            "terminal-stdin",
            "terminal-stdout",
            "terminal-stderr",
        ],
    ),
    ("wasi:http", &["types", "client"]),
];

/// Other packages the linker provides, at exactly these versions.
const PROVIDED_EXACT: &[(&str, &str, &[&str])] = &[
    (
        "minicloud:platform",
        "0.1.0",
        &["types", "storage", "secrets", "identity", "events", "workflows"],
    ),
    ("wasi:keyvalue", "0.2.0-draft2", &["store", "atomics"]),
    ("wasi:config", "0.2.0-draft", &["store"]),
    ("wasi:logging", "0.1.0-draft", &["logging"]),
];

/// Splits `ns:pkg/iface@version` into its parts.
fn split(name: &str) -> Option<(&str, &str, &str)> {
    let (path, version) = name.split_once('@')?;
    let (package, iface) = path.split_once('/')?;
    Some((package, iface, version))
}

fn is_wasi_02(version: &str) -> bool {
    version.starts_with("0.2.")
}

/// WASI 0.3 as wasmtime 48 ships it: 0.3.0 and its patch releases, not the
/// release candidates before it (their interfaces differ).
fn is_wasi_03(version: &str) -> bool {
    version.starts_with("0.3.") && !version.contains('-')
}

/// Whether a component's bytes hold another component that runs code of
/// its own (a composition: one inner component's instance calling
/// another's). Such calls are tasks of their own, which can outlive the
/// request's task that made them; the store then gives that task's slot
/// to another request, and their later host calls would act for its
/// caller (see `reuse::requests`). So such components do not reuse
/// instances. The inner components every toolchain's output holds only
/// to name its exports' types (imports, types and exports, no code), and
/// core modules linked inside one component (an adapter, CPython's
/// libraries), make no such tasks. Bytes that do not parse count as
/// composed: the safe side.
pub fn composes_components(bytes: &[u8]) -> bool {
    runs_code(bytes, 0).unwrap_or(true)
}

/// Inner components nested deeper than this count as composed: the bytes
/// are read before anything else validates them, and each level is a
/// frame of [`runs_code`] on a blocking thread's stack (a deploy's body
/// could nest millions).
const MAX_NESTING: usize = 32;

/// Whether the component of `bytes` holds an inner component with code
/// (core modules or instances, lifted or lowered functions, instances of
/// components), or, when `depth` is above 0 (an inner component), has such
/// code itself. `None`: not a component that parses, or nested too deep.
fn runs_code(bytes: &[u8], depth: usize) -> Option<bool> {
    use wasmparser::{Chunk, Parser, Payload};
    if depth > MAX_NESTING {
        return None;
    }
    let inner = depth > 0;
    let mut parser = Parser::new(0);
    let mut rest = bytes;
    loop {
        let Ok(Chunk::Parsed { consumed, payload }) = parser.parse(rest, true) else {
            return None;
        };
        rest = &rest[consumed..];
        // An inner module's or component's bytes follow its section's
        // header; the parser leaves them to the caller.
        let skip = match payload {
            Payload::ModuleSection { .. }
            | Payload::InstanceSection(_)
            | Payload::ComponentInstanceSection(_)
            | Payload::ComponentCanonicalSection(_)
                if inner =>
            {
                return Some(true);
            }
            Payload::ComponentSection { unchecked_range, .. } => {
                let nested = bytes.get(unchecked_range.clone())?;
                if runs_code(nested, depth + 1)? {
                    return Some(true);
                }
                unchecked_range.len()
            }
            Payload::ModuleSection { unchecked_range, .. } => unchecked_range.len(),
            Payload::End(_) => return Some(false),
            _ => 0,
        };
        rest = rest.get(skip..)?;
    }
}

/// Which version of `wasi:http` an HTTP component exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    /// `wasi:http/incoming-handler@0.2.x`: one call per request.
    P2,
    /// `wasi:http/handler@0.3.x`: an async export; bodies are streams.
    P3,
}

/// The `wasi:http` version an HTTP component exports, if it exports one.
pub fn http_version(engine: &Engine, component: &Component) -> Option<HttpVersion> {
    component
        .component_type()
        .exports(engine)
        .find_map(|(name, _)| match split(name)? {
            ("wasi:http", "incoming-handler", v) if is_wasi_02(v) => Some(HttpVersion::P2),
            ("wasi:http", "handler", v) if is_wasi_03(v) => Some(HttpVersion::P3),
            _ => None,
        })
}

/// Finds the world a component serves from its exports.
pub fn detect(engine: &Engine, component: &Component) -> Result<World, CompileError> {
    let ty = component.component_type();
    let mut names = Vec::new();
    for (name, _) in ty.exports(engine) {
        match split(name) {
            Some(("wasi:http", "incoming-handler", v)) if is_wasi_02(v) => return Ok(World::Http),
            Some(("wasi:http", "handler", v)) if is_wasi_03(v) => return Ok(World::Http),
            Some(("minicloud:platform", "json-handler", "0.1.0")) => return Ok(World::Handler),
            _ => names.push(format!("`{name}`")),
        }
    }
    let list = if names.is_empty() {
        "nothing".to_owned()
    } else {
        names.join(", ")
    };
    Err(CompileError::NoKnownWorld(list))
}

/// Refuses a component that imports anything the platform does not provide,
/// naming the first such import.
pub fn check_imports(engine: &Engine, component: &Component) -> Result<(), CompileError> {
    for (name, _) in component.component_type().imports(engine) {
        let provided = split(name).is_some_and(|(package, iface, version)| {
            let wasi = if is_wasi_02(version) {
                PROVIDED
            } else if is_wasi_03(version) {
                PROVIDED_03
            } else {
                &[]
            };
            wasi.iter()
                .any(|(p, ifaces)| *p == package && ifaces.contains(&iface))
                || PROVIDED_EXACT
                    .iter()
                    .any(|(p, v, ifaces)| *p == package && *v == version && ifaces.contains(&iface))
        });
        if !provided {
            return Err(CompileError::UnsupportedImport(name.to_owned()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_interface_names() {
        assert_eq!(
            split("wasi:http/incoming-handler@0.2.4"),
            Some(("wasi:http", "incoming-handler", "0.2.4"))
        );
        assert_eq!(split("local-import"), None);
    }

    #[test]
    fn wasi_03_is_the_release_not_its_candidates() {
        assert!(is_wasi_03("0.3.0"));
        assert!(is_wasi_03("0.3.1"));
        assert!(!is_wasi_03("0.3.0-rc-2026-03-15"));
        assert!(!is_wasi_03("0.2.12"));
    }

    /// A component's bytes: its header, then `sections`.
    fn component(sections: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
        for s in sections {
            bytes.extend_from_slice(s);
        }
        bytes
    }

    /// Section `id` holding `content` (its length in LEB128).
    fn section(id: u8, content: &[u8]) -> Vec<u8> {
        let mut bytes = vec![id];
        let mut len = content.len();
        while len >= 0x80 {
            bytes.push(u8::try_from(len & 0x7f).expect("seven bits") | 0x80);
            len >>= 7;
        }
        bytes.push(u8::try_from(len).expect("under 0x80"));
        bytes.extend_from_slice(content);
        bytes
    }

    #[test]
    fn compositions_are_told_from_type_only_inner_components() {
        let module = || section(1, b"\0asm\x01\0\0\0");
        // An inner component as toolchains emit to name an export's types:
        // a type section (of no types), no code.
        let types_only = || section(4, &component(&[section(7, b"\x00")]));
        // An inner component with a module of its own.
        let with_module = || section(4, &component(&[module()]));
        assert!(!composes_components(&component(&[])));
        assert!(!composes_components(&component(&[module(), module()])));
        assert!(!composes_components(&component(&[module(), types_only()])));
        assert!(composes_components(&component(&[with_module()])));
        assert!(
            composes_components(&component(&[module(), types_only(), with_module()])),
            "found after what it skips"
        );
        // Two levels down, with code and without.
        assert!(composes_components(&component(&[section(
            4,
            &component(&[with_module()])
        )])));
        assert!(!composes_components(&component(&[section(
            4,
            &component(&[types_only()])
        )])));
        // Type-only inner components nested past the limit, a section
        // whose length runs past the end, and bytes that are no component:
        // the safe side, without a frame a level.
        let nested = |levels: usize| {
            let mut bytes = component(&[section(7, b"\x00")]);
            for _ in 0..levels {
                bytes = component(&[section(4, &bytes)]);
            }
            bytes
        };
        assert!(!composes_components(&nested(MAX_NESTING)));
        assert!(composes_components(&nested(MAX_NESTING + 1)));
        assert!(composes_components(&component(&[vec![1, 0x40, 0, b'a']])));
        assert!(composes_components(b"not wasm"));
    }

    #[test]
    fn world_names_round_trip() {
        for w in [World::Http, World::Handler] {
            assert_eq!(World::parse(w.as_str()), Some(w));
        }
        assert_eq!(World::parse("proxy"), None);
    }
}
