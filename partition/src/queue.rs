//! A plain blocking queue (mutex and condition variables). The writer
//! threads and the merging thread share two cores; a waiting thread must
//! sleep at once rather than spin and yield (as channel receivers do
//! before they park), or it takes CPU time from the threads doing the work.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

struct Inner<T> {
    items: VecDeque<T>,
    closed: bool,
    /// Threads asleep in `pop` / `push`: waking costs a system call, so
    /// it is only done when someone waits.
    poppers: usize,
    pushers: usize,
}

pub struct Queue<T> {
    inner: Mutex<Inner<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
}

impl<T> Queue<T> {
    pub fn new(capacity: usize) -> Queue<T> {
        Queue {
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                closed: false,
                poppers: 0,
                pushers: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // A panicking holder cannot leave the deque half-modified.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add an item, waiting while the queue is full; false once closed.
    pub fn push(&self, item: T) -> bool {
        let mut g = self.lock();
        while g.items.len() >= self.capacity && !g.closed {
            g.pushers += 1;
            g = self.not_full.wait(g).unwrap_or_else(|e| e.into_inner());
            g.pushers -= 1;
        }
        if g.closed {
            return false;
        }
        g.items.push_back(item);
        let wake = g.poppers > 0;
        drop(g);
        if wake {
            self.not_empty.notify_one();
        }
        true
    }

    /// The next item, waiting for one; None when closed and drained.
    pub fn pop(&self) -> Option<T> {
        let mut g = self.lock();
        loop {
            if let Some(item) = g.items.pop_front() {
                let wake = g.pushers > 0;
                drop(g);
                if wake {
                    self.not_full.notify_one();
                }
                return Some(item);
            }
            if g.closed {
                return None;
            }
            g.poppers += 1;
            g = self.not_empty.wait(g).unwrap_or_else(|e| e.into_inner());
            g.poppers -= 1;
        }
    }

    /// The next item if there is one now.
    pub fn try_pop(&self) -> Option<T> {
        let mut g = self.lock();
        let item = g.items.pop_front();
        let wake = item.is_some() && g.pushers > 0;
        drop(g);
        if wake {
            self.not_full.notify_one();
        }
        item
    }

    /// No more pushes; poppers drain what is left, then get None.
    pub fn close(&self) {
        self.lock().closed = true;
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn items_cross_threads_in_order_and_close_ends_the_consumer() {
        let q = Arc::new(Queue::new(2));
        let consumer = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || std::iter::from_fn(|| q.pop()).collect::<Vec<u32>>())
        };
        for i in 0..100 {
            assert!(q.push(i));
        }
        q.close();
        assert!(!q.push(100));
        assert_eq!(consumer.join().unwrap(), (0..100).collect::<Vec<_>>());
        assert_eq!(q.try_pop(), None);
    }
}
