//! Pure media code: bytes in, bytes out. Rendering ([`render`]: decode, orient,
//! resize, watermark, encode), private-metadata scrubbing ([`privacy`]), the visible
//! watermark ([`watermark`]) and the creator's logo on it ([`logo`]), the colour space
//! of photos without an ICC profile ([`colour`]) and QR codes photographed in a frame
//! ([`qr`]). Nothing here touches the database or the async runtime.

pub mod colour;
pub mod jpeg;
pub mod jpeg_dc;
pub mod logo;
pub mod privacy;
pub mod qr;
pub mod render;
pub mod watermark;
