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
    /// How many items the sleeping poppers wait for (see `pop_at_least`).
    wanted: usize,
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
                wanted: 1,
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
        let wake = g.poppers > 0 && g.items.len() >= g.wanted;
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

    /// At least `n` items (fewer only once closed and drained: then
    /// whatever is left, possibly none), waiting for them in one sleep:
    /// a consumer that needs many items is woken once, not once per item.
    /// Meant for a queue with one consumer (`wanted` is shared).
    pub fn pop_at_least(&self, n: usize) -> Vec<T> {
        let n = n.clamp(1, self.capacity);
        let mut g = self.lock();
        while g.items.len() < n && !g.closed {
            g.poppers += 1;
            g.wanted = n;
            g = self.not_empty.wait(g).unwrap_or_else(|e| e.into_inner());
            g.poppers -= 1;
            g.wanted = 1;
        }
        let items: Vec<T> = g.items.drain(..).collect();
        let wake = !items.is_empty() && g.pushers > 0;
        drop(g);
        if wake {
            self.not_full.notify_all();
        }
        items
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

    #[test]
    fn pop_at_least_waits_for_that_many_and_takes_all() {
        let q = Arc::new(Queue::new(64));
        let producer = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                for i in 0..40u32 {
                    assert!(q.push(i));
                }
            })
        };
        let mut got = Vec::new();
        while got.len() < 40 {
            let batch = q.pop_at_least(10.min(40 - got.len()));
            assert!(batch.len() >= 10.min(40 - got.len()), "{}", batch.len());
            got.extend(batch);
        }
        producer.join().unwrap();
        assert_eq!(got, (0..40).collect::<Vec<_>>());
        // Closed: what is left, then nothing, without waiting.
        assert!(q.push(7));
        q.close();
        assert_eq!(q.pop_at_least(5), vec![7]);
        assert!(q.pop_at_least(5).is_empty());
    }
}
