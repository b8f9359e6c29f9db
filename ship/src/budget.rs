//! The one cap on file content held in memory: multipart parts being read
//! and sent, and small files read whole for a single PUT. Every holder
//! takes its bytes from here first and gives them back when dropped, so
//! `--memory` bounds the run whatever `--jobs`, `--part-concurrency` and
//! `--part-size` say. Part buffers are kept for the next part once sent:
//! a fresh buffer costs a page fault for every 4 KiB of it (a million for
//! 4 GiB, most of the sender's system time), a reused one none. A leaf
//! module.

use bytes::Bytes;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Permits are KiB, so a u32 count covers any part S3 accepts.
const UNIT: u64 = 1024;

/// Bytes of file content allowed in memory at once.
#[derive(Clone)]
pub struct MemoryBudget {
    sem: Arc<Semaphore>,
    units: u32,
    pool: Arc<BufferPool>,
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
            pool: Arc::new(BufferPool {
                limit: bytes,
                state: Mutex::default(),
            }),
        }
    }

    /// Wait until a part of `len` bytes fits, then hand out a buffer of
    /// exactly that length (contents unspecified: the reader overwrites
    /// all of it), reused from an earlier part where one has that length.
    pub async fn part_buffer(&self, len: usize) -> PartBuffer {
        let permit = self.take(len as u64).await;
        PartBuffer {
            buf: self.pool.get(len),
            pool: self.pool.clone(),
            _permit: permit,
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

/// Free part buffers. Every buffer in use holds its bytes of the budget,
/// and a new one is only made once free ones are released down to the
/// budget, so in use and free together stay within it (plus at most one
/// part larger than the whole budget).
struct BufferPool {
    limit: u64,
    state: Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    free: Vec<Vec<u8>>,
    /// Bytes of every buffer made and not yet released, free or in use.
    allocated: u64,
}

impl BufferPool {
    fn get(&self, len: usize) -> Vec<u8> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = st.free.iter().position(|b| b.len() == len) {
            return st.free.swap_remove(i);
        }
        while st.allocated + len as u64 > self.limit {
            let Some(old) = st.free.pop() else { break };
            st.allocated -= old.len() as u64;
        }
        st.allocated += len as u64;
        vec![0u8; len]
    }

    fn put(&self, buf: Vec<u8>) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.free.push(buf);
    }
}

/// One part's bytes and its share of the budget; both go back when the
/// last `Bytes` made from it is dropped (after the part's final attempt).
pub struct PartBuffer {
    buf: Vec<u8>,
    pool: Arc<BufferPool>,
    _permit: OwnedSemaphorePermit,
}

impl PartBuffer {
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// The bytes as a cheaply cloned body for the upload and its retries.
    pub fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for PartBuffer {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for PartBuffer {
    fn drop(&mut self) {
        self.pool.put(std::mem::take(&mut self.buf));
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

    #[tokio::test]
    async fn part_buffers_are_reused_and_stay_within_the_budget() {
        let b = MemoryBudget::new(8 << 20);
        let first = b.part_buffer(4 << 20).await.into_bytes();
        let addr = first.as_ptr();
        let second = b.part_buffer(4 << 20).await;
        drop(first.clone());
        drop(first);
        // The first buffer is back: a third part of its size gets it.
        let third = b.part_buffer(4 << 20).await;
        assert_eq!(third.as_ref().as_ptr(), addr, "the freed buffer is reused");
        assert_eq!(third.as_ref().len(), 4 << 20);
        drop((second, third));
        // Another size: the free 4 MiB buffers are released to make room,
        // so made-and-kept bytes never pass the budget.
        let big = b.part_buffer(6 << 20).await;
        assert_eq!(big.as_ref().len(), 6 << 20);
        let st = b.pool.state.lock().unwrap();
        assert!(st.allocated <= 8 << 20, "allocated {}", st.allocated);
        assert_eq!(
            st.free.len(),
            0,
            "both 4 MiB buffers released: {}",
            st.free.len()
        );
    }
}
