//! Empty library target: it lets `recorder` name this crate as a
//! build-dependency so cargo rebuilds the eBPF object when it changes.
#![no_std]
