//! One future, many awaiters: the handshake that every caller waiting for a token shares. This
//! is `futures_util`'s `Shared` over a single-threaded boxed future: whichever awaiter is polled
//! drives it, all of them get a clone of its output, and the flight goes on when the awaiter that
//! started it is dropped (a caller gave up) while others still wait — the tests below hold the
//! crate to that.

use futures_util::future::{FutureExt, Shared};

pub use futures_util::future::LocalBoxFuture;

/// A future any number of clones can await; see the module documentation.
pub type Flight<T> = Shared<LocalBoxFuture<'static, T>>;

/// Starts nothing yet: the future runs when an awaiter is first polled.
pub fn flight<T: Clone>(future: LocalBoxFuture<'static, T>) -> Flight<T> {
    future.shared()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::future::Future;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Wake, Waker};

    /// A future that is ready once `open` is set, and counts how often it was polled.
    struct Gate {
        open: Rc<Cell<bool>>,
        waker: Rc<RefCell<Option<Waker>>>,
        polls: Rc<Cell<u32>>,
    }

    impl Future for Gate {
        type Output = u32;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            self.polls.set(self.polls.get() + 1);
            if self.open.get() {
                Poll::Ready(7)
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// Counts its wakes.
    struct Counter(Mutex<u32>);
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            *self.0.lock().unwrap() += 1;
        }
    }

    #[test]
    fn one_run_every_awaiter_gets_the_output_even_when_the_first_gives_up() {
        let open = Rc::new(Cell::new(false));
        let gate_waker = Rc::new(RefCell::new(None));
        let polls = Rc::new(Cell::new(0));
        let flight = flight(Box::pin(Gate {
            open: open.clone(),
            waker: gate_waker.clone(),
            polls: polls.clone(),
        }));
        let (ca, cb) = (
            Arc::new(Counter(Mutex::new(0))),
            Arc::new(Counter(Mutex::new(0))),
        );
        let (wa, wb) = (Waker::from(ca.clone()), Waker::from(cb.clone()));
        let mut a = flight.clone();
        let mut b = flight.clone();
        assert!(Pin::new(&mut a)
            .poll(&mut Context::from_waker(&wa))
            .is_pending());
        assert!(Pin::new(&mut b)
            .poll(&mut Context::from_waker(&wb))
            .is_pending());
        assert_eq!(polls.get(), 2);
        // The first awaiter gives up; the gate opens and wakes through the flight's waker.
        drop(a);
        open.set(true);
        gate_waker.borrow_mut().take().unwrap().wake();
        assert_eq!(*cb.0.lock().unwrap(), 1, "the remaining awaiter was woken");
        assert_eq!(
            Pin::new(&mut b).poll(&mut Context::from_waker(&wb)),
            Poll::Ready(7)
        );
        // Late awaiters get the stored output without running the future again.
        let mut c = flight.clone();
        assert_eq!(
            Pin::new(&mut c).poll(&mut Context::from_waker(&wa)),
            Poll::Ready(7)
        );
        assert_eq!(polls.get(), 3);
    }

    #[test]
    fn concurrent_awaiters_share_one_run() {
        let runs = Rc::new(Cell::new(0));
        let r = runs.clone();
        let flight = flight(Box::pin(async move {
            r.set(r.get() + 1);
            41 + 1
        }));
        let all = futures_executor::block_on(async {
            let (x, y) = (flight.clone(), flight.clone());
            [x.await, y.await, flight.await]
        });
        assert_eq!(all, [42, 42, 42]);
        assert_eq!(runs.get(), 1);
    }
}
