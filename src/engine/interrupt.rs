//! Ctrl-C during a run, as the engine sees it: a level that only goes up. At `Stop` no host
//! starts a new step (steps already running on a node finish: they are atomic there); at
//! `Abandon` every host gives up at once. Who raises the level (a signal handler in the
//! command) is not the engine's business.

use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Running,
    /// First Ctrl-C: finish what runs, start nothing new.
    Stop,
    /// Second Ctrl-C: give up now.
    Abandon,
}

/// Cheap to clone; every clone sees the same level.
#[derive(Debug, Clone)]
pub struct Interrupt {
    level: watch::Sender<Level>,
}

impl Default for Interrupt {
    fn default() -> Interrupt {
        Interrupt {
            level: watch::Sender::new(Level::Running),
        }
    }
}

impl Interrupt {
    /// One step up (Running -> Stop -> Abandon); returns the new level.
    pub fn escalate(&self) -> Level {
        self.level.send_modify(|l| {
            *l = match *l {
                Level::Running => Level::Stop,
                _ => Level::Abandon,
            }
        });
        self.level()
    }

    pub fn level(&self) -> Level {
        *self.level.borrow()
    }

    pub fn stopping(&self) -> bool {
        self.level() >= Level::Stop
    }

    /// Resolves once the level is at least `at` (at once if it already is).
    pub async fn reached(&self, at: Level) {
        let mut rx = self.level.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|l| *l >= at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn levels_only_go_up_and_waiters_wake() {
        let i = Interrupt::default();
        assert!(!i.stopping());
        let waiter = {
            let i = i.clone();
            tokio::spawn(async move { i.reached(Level::Abandon).await })
        };
        assert_eq!(i.escalate(), Level::Stop);
        assert!(i.stopping());
        assert!(!waiter.is_finished());
        assert_eq!(i.escalate(), Level::Abandon);
        assert_eq!(i.escalate(), Level::Abandon);
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("the waiter woke")
            .unwrap();
    }
}
