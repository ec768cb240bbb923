//! The one module that touches the `shared_memory` crate.
//!
//! It maps a named POSIX shared-memory object and hands the rest of the crate raw pointers
//! and atomics into it, never `&[u8]` over bytes other processes may write. Ownership (who
//! unlinks the name) is decided by the broker, not by `shared_memory`'s drop: every mapping
//! is made non-owning and [`Region::unlink`] removes the name explicitly. File links are not
//! used.

use std::sync::atomic::{AtomicU32, AtomicU64};

use shared_memory::{Shmem, ShmemConf, ShmemError};

use crate::error::{Error, Result};

/// Longest broker name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// A mapped broker region.
pub(crate) struct Region {
    /// Kept for its `Drop`, which unmaps (never unlinks: ownership is turned off).
    #[cfg_attr(unix, allow(dead_code))]
    shmem: Shmem,
    base: *mut u8,
    len: usize,
    os_id: String,
}

// SAFETY: the mapping is plain shared memory; all cross-thread access goes through atomics or
// through protocols documented at each use. `Shmem` holds a raw pointer and an fd only.
unsafe impl Send for Region {}
// SAFETY: as above; `Region` itself has no interior state besides the mapping.
unsafe impl Sync for Region {}

/// Outcome of trying to create a region.
pub(crate) enum Created {
    /// A new, zero-filled region.
    New(Region),
    /// The name is taken.
    Exists,
}

/// Checks a broker name: 1 to 64 characters of `A-Z a-z 0-9 _ - .`, not starting with `.`.
pub fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(Error::InvalidName(format!(
            "broker name must be 1 to {MAX_NAME_LEN} characters, got {}",
            name.len()
        )));
    }
    if name.starts_with('.') {
        return Err(Error::InvalidName(
            "broker name must not start with '.'".into(),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(Error::InvalidName(format!(
            "broker name may hold only letters, digits, '_', '-' and '.', found {c:?}"
        )));
    }
    Ok(())
}

/// FNV-1a, 64 bits: stable across processes and builds.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The OS name of a broker's region: at most 31 bytes (macOS's limit), starting with `/`.
pub(crate) fn os_id(name: &str) -> String {
    let direct = format!("/rk.{name}");
    if direct.len() <= 31 {
        direct
    } else {
        format!("/rk.{}.{:016x}", &name[..10], fnv1a(name.as_bytes()))
    }
}

fn map_err(e: ShmemError, what: &str) -> Error {
    let errno = match e {
        ShmemError::MapCreateFailed(n) | ShmemError::MapOpenFailed(n) => n as i32,
        ShmemError::UnknownOsError(n) => n as i32,
        _ => 0,
    };
    #[cfg(unix)]
    match errno {
        libc::ENOENT => return Error::NotFound(what.to_string()),
        libc::EACCES | libc::EPERM => return Error::PermissionDenied(what.to_string()),
        libc::ENOSPC | libc::ENOMEM => {
            return Error::OutOfSharedMemory {
                needed: 0,
                reason: e.to_string(),
            }
        }
        _ => {}
    }
    let _ = errno;
    Error::Os(format!("{what}: {e}"))
}

impl Region {
    /// Creates the named region of `size` bytes, zero-filled, with permission bits `mode`.
    /// The backing store is reserved and every page touched, so a full `/dev/shm` fails
    /// here with [`Error::OutOfSharedMemory`] instead of SIGBUS later.
    pub(crate) fn create(os_id: &str, size: usize, mode: u32) -> Result<Created> {
        #[cfg(target_os = "linux")]
        if let Some(free) = crate::sys::shm_free_bytes() {
            if (free as u128) < size as u128 {
                return Err(Error::OutOfSharedMemory {
                    needed: size as u64,
                    reason: format!("/dev/shm has {free} bytes free"),
                });
            }
        }
        let mut shmem = match ShmemConf::new().os_id(os_id).size(size).create() {
            Ok(s) => s,
            Err(ShmemError::MappingIdExists) => return Ok(Created::Exists),
            Err(e) => {
                return Err(match map_err(e, os_id) {
                    Error::OutOfSharedMemory { reason, .. } => Error::OutOfSharedMemory {
                        needed: size as u64,
                        reason,
                    },
                    other => other,
                })
            }
        };
        shmem.set_owner(false);
        let region = Region::from_shmem(shmem, os_id);
        #[cfg(unix)]
        if mode != 0o600 {
            if let Err(e) = crate::sys::shm_chmod(os_id, mode) {
                region.unlink();
                return Err(Error::Os(format!("chmod {os_id}: {e}")));
            }
        }
        #[cfg(not(unix))]
        let _ = mode;
        #[cfg(target_os = "linux")]
        if let Err(reason) = crate::sys::shm_reserve(os_id, size as u64) {
            region.unlink();
            return Err(Error::OutOfSharedMemory {
                needed: size as u64,
                reason,
            });
        }
        region.touch_pages();
        Ok(Created::New(region))
    }

    /// Maps the existing region `os_id`, whatever its size.
    pub(crate) fn open(os_id: &str, broker_name: &str) -> Result<Region> {
        match ShmemConf::new().os_id(os_id).open() {
            Ok(mut shmem) => {
                shmem.set_owner(false);
                Ok(Region::from_shmem(shmem, os_id))
            }
            Err(ShmemError::MapOpenFailed(n)) if is_einval(n) => {
                // A zero-length object: a creator between shm_open and ftruncate, or one
                // that died there.
                Err(Error::IncompatibleRegion(format!(
                    "region '{broker_name}' has no size yet"
                )))
            }
            Err(e) => Err(map_err(e, &format!("broker '{broker_name}'"))),
        }
    }

    fn from_shmem(shmem: Shmem, os_id: &str) -> Region {
        let base = shmem.as_ptr();
        let len = shmem.len();
        Region {
            shmem,
            base,
            len,
            os_id: os_id.to_string(),
        }
    }

    fn touch_pages(&self) {
        let mut off = 0;
        while off < self.len {
            // SAFETY: `off < len`, inside our fresh mapping that nobody else uses before the
            // init protocol publishes it; the volatile write of 0 over a 0 byte only faults
            // the page in.
            unsafe { std::ptr::write_volatile(self.base.add(off), 0) };
            off += 4096;
        }
    }

    /// Mapped length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Raw pointer to byte `off` of the region.
    ///
    /// # Safety
    /// `off` must be within the mapping.
    #[inline]
    pub(crate) unsafe fn ptr(&self, off: usize) -> *mut u8 {
        debug_assert!(off <= self.len);
        // SAFETY: the caller promises `off` is in bounds.
        unsafe { self.base.add(off) }
    }

    /// The 8-byte-aligned word at `off` as an atomic.
    #[inline]
    pub(crate) fn u64_at(&self, off: usize) -> &AtomicU64 {
        assert!(
            off % 8 == 0 && off + 8 <= self.len,
            "u64 at {off} out of region"
        );
        // SAFETY: in bounds and aligned (checked above; the base is page aligned); the
        // mapping lives as long as `self`; all processes access this word atomically.
        unsafe { AtomicU64::from_ptr(self.base.add(off) as *mut u64) }
    }

    /// The 4-byte-aligned word at `off` as an atomic.
    #[inline]
    pub(crate) fn u32_at(&self, off: usize) -> &AtomicU32 {
        assert!(
            off % 4 == 0 && off + 4 <= self.len,
            "u32 at {off} out of region"
        );
        // SAFETY: as in `u64_at`.
        unsafe { AtomicU32::from_ptr(self.base.add(off) as *mut u32) }
    }

    /// Removes the region's name; existing mappings stay valid until dropped.
    pub(crate) fn unlink(&self) {
        #[cfg(unix)]
        crate::sys::shm_unlink(&self.os_id);
        #[cfg(not(unix))]
        let _ = &self.shmem;
    }
}

#[cfg(unix)]
fn is_einval(n: u32) -> bool {
    n as i32 == libc::EINVAL
}

#[cfg(not(unix))]
fn is_einval(_n: u32) -> bool {
    false
}

/// Removes a region by OS id without mapping it.
pub(crate) fn unlink_os_id(os_id: &str) {
    #[cfg(unix)]
    crate::sys::shm_unlink(os_id);
    #[cfg(not(unix))]
    let _ = os_id;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(validate_name("demo").is_ok());
        assert!(validate_name("a.b-c_9").is_ok());
        for bad in ["", ".hidden", "a/b", "a b", "ä", &"x".repeat(65)] {
            assert_eq!(
                validate_name(bad).unwrap_err().code(),
                "InvalidName",
                "{bad:?}"
            );
        }
        assert!(validate_name(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn os_ids_fit_macos_limit_and_differ() {
        let long_a = "a".repeat(64);
        let long_b = format!("{}b", "a".repeat(63));
        for n in ["x", "demo", long_a.as_str(), long_b.as_str()] {
            let id = os_id(n);
            assert!(id.len() <= 31 && id.starts_with('/'), "{id}");
        }
        assert_ne!(os_id(&long_a), os_id(&long_b));
        assert_eq!(os_id("demo"), "/rk.demo");
    }
}
