//! Two threads per layer: the calling thread decompresses the blob into a
//! few fixed buffers, a second one walks the tar stream and hashes file
//! data out of them. Memory stays at [`CHUNKS`] × [`CHUNK`] bytes whatever
//! the layer holds, and the output is what one thread would give: the
//! consumer sees the same bytes, then the same error, in the same order.

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Mutex, PoisonError};
use std::thread;

/// Bytes of one buffer.
const CHUNK: usize = 1 << 20;
/// Buffers in flight between the two threads (all there ever are).
const CHUNKS: usize = 4;

/// A filled buffer (its first `len` bytes), or the error that ended the
/// stream at that point.
type Filled = io::Result<(Vec<u8>, usize)>;

/// Run `consume` over the bytes of `source`, with `source` read on this
/// thread and `consume` on another when the machine has two cores or more
/// (on one core, or when no thread can be had, e.g. under `RLIMIT_NPROC`,
/// both on this thread through an ordinary buffer).
///
/// Whichever side stops first, the other stops too: a failing or finished
/// consumer drops its ends of the channels, which ends the reading loop;
/// an error from `source` is handed to the consumer in its place in the
/// stream, after the bytes before it. `None` only if `consume` was lost,
/// which cannot happen.
pub(crate) fn run<T: Send>(
    source: &mut dyn Read,
    consume: impl FnOnce(&mut dyn BufRead) -> T + Send,
) -> Option<T> {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        return Some(consume(&mut io::BufReader::with_capacity(CHUNK, source)));
    }
    // Held here so that a thread that cannot start does not take it along.
    let slot = Mutex::new(Some(consume));
    let take = || slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    thread::scope(|scope| {
        let (filled_tx, filled_rx) = sync_channel::<Filled>(CHUNKS);
        let (empty_tx, empty_rx) = channel::<Vec<u8>>();
        for _ in 0..CHUNKS {
            // Cannot fail: the receiver is alive until the end of the scope.
            let _ = empty_tx.send(vec![0u8; CHUNK]);
        }
        let mut chunks = Chunks {
            filled: filled_rx,
            empty: empty_tx,
            current: Vec::new(),
            start: 0,
            end: 0,
            finished: false,
        };
        let consumer = thread::Builder::new()
            .name("layer-walk".into())
            .spawn_scoped(scope, move || take().map(|consume| consume(&mut chunks)));
        let Ok(consumer) = consumer else {
            return take().map(|consume| consume(&mut io::BufReader::with_capacity(CHUNK, source)));
        };
        fill_chunks(source, &filled_tx, &empty_rx);
        drop(filled_tx);
        match consumer.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Read `source` into the empty buffers and pass them on, until its end,
/// an error (passed on too), or the consumer is gone.
fn fill_chunks(source: &mut dyn Read, filled: &SyncSender<Filled>, empty: &Receiver<Vec<u8>>) {
    while let Ok(mut buf) = empty.recv() {
        let mut len = 0;
        let mut failure = None;
        while len < buf.len() {
            match source.read(&mut buf[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let at_end = len < buf.len();
        if len > 0 && filled.send(Ok((buf, len))).is_err() {
            return;
        }
        if let Some(e) = failure {
            let _ = filled.send(Err(e));
            return;
        }
        if at_end {
            return;
        }
    }
}

/// The consumer's side: the filled buffers in order, as a [`BufRead`];
/// each buffer goes back to the reading side once consumed.
struct Chunks {
    filled: Receiver<Filled>,
    empty: Sender<Vec<u8>>,
    current: Vec<u8>,
    start: usize,
    end: usize,
    /// The stream ended (or failed: the error was returned once, and the
    /// stream reads as ended after it, as a failed decoder would).
    finished: bool,
}

impl BufRead for Chunks {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end && !self.finished {
            let used = std::mem::take(&mut self.current);
            if !used.is_empty() {
                // The reading side may be gone (it finished): no matter.
                let _ = self.empty.send(used);
            }
            self.start = 0;
            self.end = 0;
            match self.filled.recv() {
                Ok(Ok((buf, len))) => {
                    self.current = buf;
                    self.end = len;
                }
                Ok(Err(e)) => {
                    self.finished = true;
                    return Err(e);
                }
                Err(_) => self.finished = true,
            }
        }
        Ok(&self.current[self.start..self.end])
    }

    fn consume(&mut self, amount: usize) {
        self.start = (self.start + amount).min(self.end);
    }
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yields `good` bytes, then fails.
    struct FailsAfter {
        good: usize,
        given: usize,
    }

    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.given >= self.good {
                return Err(io::Error::other("decoder broke"));
            }
            let n = buf.len().min(self.good - self.given).min(300_000);
            buf[..n].fill(7);
            self.given += n;
            Ok(n)
        }
    }

    #[test]
    fn every_byte_arrives_in_order() {
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        let got = run(&mut &data[..], |reader| {
            let mut out = Vec::new();
            reader.read_to_end(&mut out).map(|_| out)
        });
        assert_eq!(got.and_then(Result::ok), Some(data));
    }

    #[test]
    fn a_source_error_reaches_the_consumer_after_the_bytes_before_it() {
        let mut source = FailsAfter {
            good: 3_500_000,
            given: 0,
        };
        let outcome = run(&mut source, |reader| {
            let mut read = 0usize;
            loop {
                match reader.fill_buf() {
                    Ok([]) => return (read, None),
                    Ok(b) => {
                        let n = b.len();
                        read += n;
                        reader.consume(n);
                    }
                    Err(e) => return (read, Some(e.to_string())),
                }
            }
        });
        let (read, error) = outcome.unwrap_or_default();
        assert_eq!(read, 3_500_000);
        assert_eq!(error.as_deref(), Some("decoder broke"));
    }

    #[test]
    fn a_consumer_that_stops_early_does_not_hang_the_reader() {
        // Far more than the buffers in flight: the reading side must notice
        // the consumer is gone rather than wait for an empty buffer.
        let mut endless = io::repeat(1);
        let first = run(&mut endless, |reader| reader.fill_buf().map(|b| b.len()));
        assert_eq!(first.and_then(Result::ok), Some(CHUNK));
    }
}
