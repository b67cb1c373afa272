//! Deploy-time validation and compilation; loading of compiled artifacts.

use crate::engine::Runtime;
use crate::error::CompileError;
use crate::world::{self, World};
use sha2::{Digest, Sha256};
use std::path::Path;
use wasmtime::component::Component;

/// A component that passed validation, compiled for this engine.
#[derive(Debug)]
pub struct Compiled {
    /// The world it serves.
    pub world: World,
    /// The serialized compiled artifact, loadable by [`Runtime::load_artifact`].
    pub artifact: Vec<u8>,
    /// Hex SHA-256 of the uploaded bytes.
    pub sha256: String,
    /// The fingerprint of the engine it was compiled for
    /// ([`Runtime::fingerprint`] or [`Runtime::async_fingerprint`]).
    pub fingerprint: String,
    /// The loaded component, ready to prepare without loading again.
    pub component: Component,
}

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Checks the 8-byte header: magic, then the version/layer word that tells a
/// core module (1) from a component (0x0001_000d).
fn check_header(bytes: &[u8]) -> Result<(), CompileError> {
    if bytes.is_empty() {
        return Err(CompileError::Empty);
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(CompileError::NotWasm);
    }
    match u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) {
        1 => Err(CompileError::CoreModule),
        0x0001_000d => Ok(()),
        other => Err(CompileError::UnknownVersion(other)),
    }
}

/// Why a stored artifact could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("cannot load compiled artifact {path}: {message}")]
pub struct LoadError {
    path: String,
    message: String,
}

impl Runtime {
    /// Validates and compiles an uploaded component, for the engine
    /// without the async ABI when it accepts the component, else for the
    /// one with it (WASI 0.3). CPU-heavy (tens of milliseconds and more):
    /// run it on a blocking thread.
    pub fn compile(&self, bytes: &[u8]) -> Result<Compiled, CompileError> {
        check_header(bytes)?;
        // The engine without the async ABI refuses a component that uses it
        // while validating, before compiling anything: trying it first
        // costs a 0.3 component one parse.
        let (component, host) = match Component::new(&self.sync_abi().engine, bytes) {
            Ok(component) => (component, self.sync_abi()),
            Err(_) => {
                let host = self
                    .async_abi()
                    .map_err(|e| CompileError::Invalid(e.to_string()))?;
                let component = Component::new(&host.engine, bytes)
                    .map_err(|e| CompileError::Invalid(format!("{e:#}")))?;
                (component, host)
            }
        };
        let world = self.check(&component)?;
        let artifact = component
            .serialize()
            .map_err(|e| CompileError::Invalid(format!("{e:#}")))?;
        Ok(Compiled {
            world,
            artifact,
            sha256: sha256_hex(bytes),
            fingerprint: host.fingerprint().to_owned(),
            component,
        })
    }

    /// Validates and compiles an uploaded component with Winch, the quick
    /// tier (about three times faster than [`Runtime::compile`], its code a
    /// few percent slower): what a deploy of new bytes answers from while
    /// Cranelift's compile runs behind it. Checked as a deploy checks: a
    /// component the platform cannot run is refused here as there.
    /// `Ok(None)` when the quick tier is off or cannot build, or Winch
    /// does not take the bytes (WASI 0.3 components need the async ABI;
    /// bytes that are no component get their error from
    /// [`Runtime::compile`]). Winch's code is never serialized: only
    /// Cranelift's is stored. CPU-heavy: run it on a blocking thread.
    pub fn compile_quick(&self, bytes: &[u8]) -> Result<Option<(Component, World)>, CompileError> {
        check_header(bytes)?;
        let Some(host) = self.quick() else {
            return Ok(None);
        };
        let Ok(component) = Component::new(&host.engine, bytes) else {
            return Ok(None);
        };
        let world = self.check(&component)?;
        Ok(Some((component, world)))
    }

    /// Validates a compiled component as a deploy does: the world it
    /// serves, its imports, and a link with this platform's host (a
    /// component the linker cannot satisfy is refused at deploy, not at its
    /// first request). Milliseconds: what a deploy of bytes compiled
    /// before costs instead of [`Runtime::compile`].
    pub fn check(&self, component: &Component) -> Result<World, CompileError> {
        let engine = component.engine();
        let world = world::detect(engine, component)?;
        world::check_imports(engine, component)?;
        self.prepare(component, world)
            .map_err(|e| CompileError::Invalid(format!("{e:#}")))?;
        Ok(world)
    }

    /// Loads (memory-maps) an artifact that [`Runtime::compile`] produced
    /// for the engine of `fingerprint`.
    ///
    /// Only artifacts the platform wrote itself may be loaded: their bytes are
    /// trusted as machine code. The engine refuses artifacts of another
    /// wasmtime version or incompatible settings.
    pub fn load_artifact(&self, path: &Path, fingerprint: &str) -> Result<Component, LoadError> {
        let failed = |message: String| LoadError {
            path: path.display().to_string(),
            message,
        };
        let host = if fingerprint == self.fingerprint() {
            self.sync_abi()
        } else {
            let host = self.async_abi().map_err(|e| failed(e.to_string()))?;
            if host.fingerprint() != fingerprint {
                return Err(failed(format!(
                    "no engine of this node has the fingerprint {fingerprint}"
                )));
            }
            host
        };
        #[allow(unsafe_code, reason = "the platform only loads artifacts it compiled itself")]
        // SAFETY: the file was produced by `Component::serialize` of this
        // platform and is kept in its own object store and cache directory.
        let loaded = unsafe { Component::deserialize_file(&host.engine, path) };
        loaded.map_err(|e| failed(format!("{e:#}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_tells_modules_components_and_garbage_apart() {
        assert!(matches!(check_header(b""), Err(CompileError::Empty)));
        assert!(matches!(check_header(b"hello world"), Err(CompileError::NotWasm)));
        assert!(matches!(
            check_header(b"\0asm\x01\0\0\0"),
            Err(CompileError::CoreModule)
        ));
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
        assert!(matches!(
            check_header(b"\0asm\x07\0\0\0"),
            Err(CompileError::UnknownVersion(7))
        ));
    }
}
