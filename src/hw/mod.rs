//! The hardware edge: what the box does with the world around it other than the
//! network. systemd's notify protocol and watchdog, the status LED and the button
//! (GPIO through rppal, or a simulated back end on other machines), the serial devices
//! (door scanner, receipt printer) and `venuebox doctor`'s checks. Like `web/` and
//! `ftp/`, it may import engines and below, never another edge.

pub mod button;
pub mod doctor;
pub mod gpio;
pub mod led;
pub mod names;
pub mod notify;
pub mod power;
pub mod printer;
pub mod scanner;
pub mod serial;
