//! Pure media code: bytes in, bytes out. Rendering ([`render`]: decode, orient,
//! resize, watermark, encode), private-metadata scrubbing ([`privacy`]) and the visible
//! watermark ([`watermark`]). Nothing here touches the database or the async runtime.

pub mod jpeg;
pub mod privacy;
pub mod render;
pub mod watermark;
