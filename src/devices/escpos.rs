//! The few ESC/POS commands a receipt needs, written out by hand: initialise, text
//! (with alignment and emphasis), feed and cut, and the printer's own QR code (GS ( k).
//! No Rust ESC/POS crate is in the registry lists this project may draw from, and these
//! are nine fixed byte sequences. Source: Epson "ESC/POS Application Programming Guide"
//! and the ESC/POS command reference (ESC @, ESC a, ESC E, ESC d, GS V, GS ( k
//! functions 165, 167, 169, 180, 181), which TM-T20/T88-class printers and most clones
//! follow.
//!
//! Text is sent as ASCII: the printer's default code page (PC437) differs from UTF-8,
//! so anything else becomes `?`.

/// ESC @: initialise the printer (clears the buffer and modes). `1B 40`.
pub const INIT: [u8; 2] = [0x1b, 0x40];
/// GS V 66 0: feed to the cutter and cut partially (function B). `1D 56 42 00`.
pub const CUT: [u8; 4] = [0x1d, 0x56, 0x42, 0x00];

/// Horizontal alignment (ESC a n).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// n = 0.
    Left = 0,
    /// n = 1.
    Center = 1,
}

/// A receipt being built: ESC/POS bytes, starting with [`INIT`].
#[derive(Debug, Clone)]
pub struct Receipt(Vec<u8>);

impl Default for Receipt {
    fn default() -> Self {
        Self::new()
    }
}

impl Receipt {
    /// A receipt that starts by initialising the printer.
    pub fn new() -> Receipt {
        Receipt(INIT.to_vec())
    }

    /// ESC a n: aligns the following lines.
    pub fn align(mut self, align: Align) -> Receipt {
        self.0.extend_from_slice(&[0x1b, 0x61, align as u8]);
        self
    }

    /// ESC E n: emphasis (bold) on or off.
    pub fn bold(mut self, on: bool) -> Receipt {
        self.0.extend_from_slice(&[0x1b, 0x45, u8::from(on)]);
        self
    }

    /// One line of text and LF; characters outside printable ASCII become `?` (control
    /// characters would be read as commands).
    pub fn line(mut self, text: &str) -> Receipt {
        self.0.extend(text.chars().map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c as u8
            } else {
                b'?'
            }
        }));
        self.0.push(b'\n');
        self
    }

    /// ESC d n: feeds `lines` lines.
    pub fn feed(mut self, lines: u8) -> Receipt {
        self.0.extend_from_slice(&[0x1b, 0x64, lines]);
        self
    }

    /// The printer's native QR code (model 2) of `data` (at most 7089 bytes; longer is
    /// cut), modules `module` dots wide (1–16), error correction level M:
    /// GS ( k function 165 (model), 167 (module size), 169 (error correction),
    /// 180 (store data: `pL pH` = data length + 3), 181 (print).
    pub fn qr(mut self, data: &[u8], module: u8) -> Receipt {
        let data = &data[..data.len().min(7089)];
        let module = module.clamp(1, 16);
        let gs_k = |body: &[u8]| {
            let len = body.len() as u16;
            let mut cmd = vec![0x1d, 0x28, 0x6b, (len & 0xff) as u8, (len >> 8) as u8];
            cmd.extend_from_slice(body);
            cmd
        };
        self.0.extend(gs_k(&[0x31, 0x41, 0x32, 0x00])); // fn 165: model 2
        self.0.extend(gs_k(&[0x31, 0x43, module])); // fn 167: module size
        self.0.extend(gs_k(&[0x31, 0x45, 0x31])); // fn 169: level M
        let mut store = vec![0x31, 0x50, 0x30];
        store.extend_from_slice(data);
        self.0.extend(gs_k(&store)); // fn 180: store the data
        self.0.extend(gs_k(&[0x31, 0x51, 0x30])); // fn 181: print it
        self
    }

    /// Feeds and cuts, and returns the bytes to send.
    pub fn cut(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&CUT);
        self.0
    }
}

/// The slip printed at first start: the admin setup code as text and as a QR code.
pub fn setup_code_slip(box_name: &str, code: &str) -> Vec<u8> {
    Receipt::new()
        .align(Align::Center)
        .bold(true)
        .line("venuebox admin setup code")
        .bold(false)
        .line(box_name)
        .feed(1)
        .bold(true)
        .line(code)
        .bold(false)
        .feed(1)
        .qr(code.as_bytes(), 6)
        .feed(1)
        .line("Log in at /admin/login. Keep this slip safe;")
        .line("`venuebox admin reset-code` makes a new code.")
        .feed(3)
        .cut()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_store_length_counts_the_data_and_three() {
        let bytes = Receipt::new().qr(b"ABC", 4).cut();
        let store = [0x1d, 0x28, 0x6b, 6, 0, 0x31, 0x50, 0x30, b'A', b'B', b'C'];
        assert!(bytes.windows(store.len()).any(|w| w == store));
        assert!(bytes.starts_with(&INIT));
        assert!(bytes.ends_with(&CUT));
    }

    #[test]
    fn text_is_ascii_only() {
        let bytes = Receipt::new().line("é\u{1b}x").cut();
        assert_eq!(&bytes[2..6], b"??x\n");
    }
}
