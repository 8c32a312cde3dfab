//! Threads beside the packet thread (event handlers, log writers) run at a lower scheduling
//! priority, as Suricata's management threads do: on a machine of two cores, the packet
//! thread, the handler thread and the log-writer thread are three runnable threads, and
//! whenever both helpers are busy the kernel's fair share would give the packet thread only
//! two thirds of a core. The helpers have slack (they work on batches behind the packet
//! thread), the packet thread has none: a lower priority lets them take what the packet
//! thread leaves. Their queues are bounded, so a helper that falls behind still slows the
//! packet thread down rather than losing work.

/// How much nicer than the packet thread a helper thread is (nice values run from -20 to 19;
/// each step is about a tenth less CPU share when threads compete).
pub const HELPER_NICE_DELTA: i32 = 5;

/// Lowers the calling thread's priority by [`HELPER_NICE_DELTA`] from the process's (so that
/// `nice -n 10 sandpiper` keeps its helpers below its packet thread too). Best effort: where
/// the system refuses, or is not Linux (where `setpriority` on a thread id is per thread),
/// the thread keeps its priority.
pub fn lower_current_thread() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid, getpriority and setpriority take plain integers and touch no memory of
    // ours.
    unsafe {
        // The process id names the main (packet) thread: a helper started by another helper
        // is placed relative to the packet thread, not to its parent.
        let nice = libc::getpriority(libc::PRIO_PROCESS, libc::getpid() as libc::id_t);
        let tid = libc::gettid() as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, (nice + HELPER_NICE_DELTA).min(19));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's nice value (Linux; 0 elsewhere).
    fn current_nice() -> i32 {
        #[cfg(target_os = "linux")]
        // SAFETY: gettid and getpriority take plain integers.
        unsafe {
            libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
        }
        #[cfg(not(target_os = "linux"))]
        0
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_helper_thread_is_nicer_than_its_spawner_and_the_spawner_is_unchanged() {
        let before = current_nice();
        let helper = std::thread::spawn(|| {
            lower_current_thread();
            current_nice()
        })
        .join()
        .unwrap();
        assert_eq!(helper, (before + HELPER_NICE_DELTA).min(19));
        assert_eq!(current_nice(), before);
        // A helper started by a helper is placed relative to the main thread, not its parent.
        let nested = std::thread::spawn(|| {
            lower_current_thread();
            std::thread::spawn(|| {
                lower_current_thread();
                current_nice()
            })
            .join()
            .unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(nested, helper);
    }
}
