//! The one cap on file content held in memory: multipart parts being read
//! and sent, and small files read whole for a single PUT. Every holder
//! takes its bytes from here first and gives them back when dropped, so
//! `--memory` bounds the run whatever `--jobs`, `--part-concurrency` and
//! `--part-size` say. A leaf module.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Permits are KiB, so a u32 count covers any part S3 accepts.
const UNIT: u64 = 1024;

/// Bytes of file content allowed in memory at once.
#[derive(Clone)]
pub struct MemoryBudget {
    sem: Arc<Semaphore>,
    units: u32,
}

impl MemoryBudget {
    /// The budget, and the allocator told to give freed parts back: glibc
    /// raises its mmap threshold after the first large free, so later
    /// parts would come from (and stay in) the heap, and the process would
    /// hold far more than the budget. A fixed 1 MiB threshold keeps every
    /// part in its own mapping, returned when the part is dropped.
    pub fn new(bytes: u64) -> MemoryBudget {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes allocator tuning; called before the
        // runtime's threads allocate parts.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        }
        let units = bytes.div_ceil(UNIT).clamp(1, u32::MAX as u64) as u32;
        MemoryBudget {
            sem: Arc::new(Semaphore::new(units as usize)),
            units,
        }
    }

    /// Wait until `bytes` fit. A single holder larger than the whole budget
    /// (a part above it) takes all of it, so it still goes alone.
    pub async fn take(&self, bytes: u64) -> OwnedSemaphorePermit {
        let units = bytes.div_ceil(UNIT).clamp(1, self.units as u64) as u32;
        self.sem
            .clone()
            .acquire_many_owned(units)
            .await
            .expect("the budget's semaphore is never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn holders_wait_for_what_others_give_back() {
        let b = MemoryBudget::new(10 * 1024);
        let first = b.take(8 * 1024).await;
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), b.take(4 * 1024));
        assert!(
            waiting.await.is_err(),
            "4 KiB must wait while 8 of 10 are held"
        );
        drop(first);
        let _second = b.take(4 * 1024).await;
        // Larger than the budget: takes all of it once free.
        let b = MemoryBudget::new(1024);
        let _big = b.take(1 << 30).await;
    }
}
