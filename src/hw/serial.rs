//! The one serial layer the door scanner and the receipt printer share: opening a
//! configured device with tokio-serial (8N1, no flow control, raw), the bounded
//! exponential backoff between attempts to reopen a device that went away, and the
//! line framing a scanner's input goes through (over-long lines discarded whole, lines
//! that are not clean text rejected, without stopping the reader).

use std::path::Path;
use std::time::Duration;

/// The first wait before reopening a device.
pub const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// The longest wait between two attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Exponential backoff between reopen attempts: 250 ms, 500 ms, 1 s, … up to 5 s;
/// [`Backoff::reset`] after a successful open.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: BACKOFF_MIN }
    }
}

impl Backoff {
    /// The wait before the next attempt; doubles the one after, up to [`BACKOFF_MAX`].
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        wait
    }

    /// Back to [`BACKOFF_MIN`] (the device opened).
    pub fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }
}

/// Opens a serial device at `baud`, 8 data bits, no parity, one stop bit, no flow
/// control (serialport puts the tty in raw mode). Errors are the OS's (`ENOENT` when
/// unplugged, `EACCES` without the `dialout` group).
pub fn open(device: &Path, baud: u32) -> std::io::Result<tokio_serial::SerialStream> {
    let builder = tokio_serial::new(device.to_string_lossy(), baud)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(tokio_serial::Parity::None)
        .stop_bits(tokio_serial::StopBits::One)
        .flow_control(tokio_serial::FlowControl::None);
    tokio_serial::SerialStream::open(&builder).map_err(std::io::Error::from)
}

/// What one line of input came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A clean line of text (no line end).
    Line(String),
    /// A line thrown away, and why.
    Rejected(&'static str),
}

/// Splits a byte stream into lines ending in CR, LF or both, at most `max` bytes each.
/// A longer line is discarded whole (its tail too, up to the next line end); a line
/// that is not UTF-8 or holds NUL or other control characters is rejected. Empty lines
/// (the LF of a CR LF) are skipped.
#[derive(Debug)]
pub struct LineFramer {
    line: Vec<u8>,
    overlong: bool,
    max: usize,
}

impl LineFramer {
    /// A framer for lines of at most `max` bytes.
    pub fn new(max: usize) -> LineFramer {
        LineFramer {
            line: Vec::new(),
            overlong: false,
            max,
        }
    }

    /// Feeds bytes; returns the lines they completed, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Frame> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' || b == b'\r' {
                if self.overlong {
                    out.push(Frame::Rejected("line too long"));
                } else if !self.line.is_empty() {
                    out.push(check(&self.line));
                }
                self.line.clear();
                self.overlong = false;
            } else if self.overlong {
            } else if self.line.len() >= self.max {
                self.overlong = true;
                self.line.clear();
            } else {
                self.line.push(b);
            }
        }
        out
    }
}

fn check(line: &[u8]) -> Frame {
    match std::str::from_utf8(line) {
        Err(_) => Frame::Rejected("not UTF-8"),
        Ok(text) if text.chars().any(char::is_control) => Frame::Rejected("control characters"),
        Ok(text) => Frame::Line(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_bound_and_resets() {
        let mut b = Backoff::default();
        let waits: Vec<u128> = (0..7).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 5000, 5000]);
        b.reset();
        assert_eq!(b.next_wait(), BACKOFF_MIN);
    }

    #[test]
    fn garbage_and_overlong_lines_are_rejected_and_reading_goes_on() {
        let mut f = LineFramer::new(8);
        let mut got = f.push(b"ok\r\n0123456789abc\r\n\x00x\n\xff\xfe\nsp");
        got.extend(f.push(b"lit\r\n"));
        assert_eq!(
            got,
            [
                Frame::Line("ok".into()),
                Frame::Rejected("line too long"),
                Frame::Rejected("control characters"),
                Frame::Rejected("not UTF-8"),
                Frame::Line("split".into()),
            ]
        );
    }
}
