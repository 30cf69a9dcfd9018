//! The one `unsafe` call of the crate: a libzmq option that the `zmq`
//! crate does not wrap.

use std::ffi::c_int;

/// Turns on `ZMQ_XPUB_NODROP`, which the `zmq` crate does not wrap.
#[allow(unsafe_code)]
pub(super) fn set_xpub_nodrop(socket: &mut zmq::Socket) -> zmq::Result<()> {
    let on: c_int = 1;
    // SAFETY: `as_mut_ptr` is the live socket that `socket` owns and keeps
    // open across the call. The option value points to a `c_int` that
    // outlives the call, and the length passed is exactly its size, which
    // is what libzmq reads for ZMQ_XPUB_NODROP. `zmq_errno` only reads the
    // calling thread's errno.
    unsafe {
        let rc = zmq_sys::zmq_setsockopt(
            socket.as_mut_ptr(),
            zmq_sys::ZMQ_XPUB_NODROP as c_int,
            (&on as *const c_int).cast(),
            std::mem::size_of::<c_int>(),
        );
        if rc == 0 {
            Ok(())
        } else {
            Err(zmq::Error::from_raw(zmq_sys::zmq_errno()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xpub_nodrop_makes_a_full_queue_refuse_instead_of_drop() {
        let ctx = zmq::Context::new();
        let mut publisher = ctx.socket(zmq::XPUB).unwrap();
        set_xpub_nodrop(&mut publisher).unwrap();
        publisher.set_sndhwm(1).unwrap();
        publisher.bind("inproc://nodrop-test").unwrap();
        let subscriber = ctx.socket(zmq::SUB).unwrap();
        subscriber.set_rcvhwm(1).unwrap();
        subscriber.connect("inproc://nodrop-test").unwrap();
        subscriber.set_subscribe(b"").unwrap();
        assert_eq!(publisher.recv_bytes(0).unwrap(), b"\x01");
        // Nobody reads: the queues fill, then the socket says EAGAIN. A
        // plain XPUB would accept (and drop) every message instead.
        let accepted = (0..100)
            .take_while(|i| publisher.send(&format!("{i}")[..], zmq::DONTWAIT).is_ok())
            .count();
        assert!(accepted < 100, "a full NODROP socket must refuse");
        assert_eq!(
            publisher.send("more", zmq::DONTWAIT),
            Err(zmq::Error::EAGAIN)
        );
        // What was accepted arrives, in order.
        for i in 0..accepted {
            assert_eq!(
                subscriber.recv_bytes(0).unwrap(),
                format!("{i}").into_bytes()
            );
        }
    }
}
