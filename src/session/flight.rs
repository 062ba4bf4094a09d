//! One future, many awaiters: the handshake that every caller waiting for a token shares.
//!
//! Whichever awaiter is polled drives the future; all of them get a clone of its output. The
//! future is polled with a waker that wakes every awaiter, so the flight goes on when the awaiter
//! that started it is dropped (a caller gave up) while others still wait. For one thread, as in
//! WebAssembly; `futures_util`'s `Shared` does the same with more machinery.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// A boxed, single-threaded future.
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// The wakers of everyone waiting for a flight.
#[derive(Default)]
struct Waiters(Mutex<Vec<Waker>>);

impl Waiters {
    fn list(&self) -> std::sync::MutexGuard<'_, Vec<Waker>> {
        // Nothing can panic while the lock is held, so a poisoned lock still holds a good list.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = std::mem::take(&mut *self.list());
        wakers.into_iter().for_each(Waker::wake);
    }
}

struct State<T> {
    future: Option<LocalBoxFuture<'static, T>>,
    output: Option<T>,
}

/// A future any number of clones can await; see the module documentation.
pub struct Flight<T> {
    state: Rc<RefCell<State<T>>>,
    waiters: Arc<Waiters>,
}

impl<T> Clone for Flight<T> {
    fn clone(&self) -> Self {
        Flight {
            state: self.state.clone(),
            waiters: self.waiters.clone(),
        }
    }
}

impl<T: Clone> Flight<T> {
    /// Starts nothing yet: the future runs when an awaiter is first polled.
    pub fn new(future: LocalBoxFuture<'static, T>) -> Self {
        Flight {
            state: Rc::new(RefCell::new(State {
                future: Some(future),
                output: None,
            })),
            waiters: Arc::default(),
        }
    }
}

impl<T: Clone> Future for Flight<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(out) = &self.state.borrow().output {
            return Poll::Ready(out.clone());
        }
        {
            let mut list = self.waiters.list();
            if !list.iter().any(|w| w.will_wake(cx.waker())) {
                list.push(cx.waker().clone());
            }
        }
        // Taken out while it runs, so the state is not borrowed across the poll.
        let Some(mut future) = self.state.borrow_mut().future.take() else {
            return Poll::Pending;
        };
        let waker = Waker::from(self.waiters.clone());
        match future.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(out) => {
                self.state.borrow_mut().output = Some(out.clone());
                waker.wake();
                Poll::Ready(out)
            }
            Poll::Pending => {
                self.state.borrow_mut().future = Some(future);
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

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
        let flight = Flight::new(Box::pin(Gate {
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
        let flight = Flight::new(Box::pin(async move {
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
