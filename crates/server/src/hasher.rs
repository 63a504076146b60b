//! Password hashing for the server: argon2 on one thread of its own, with
//! a bounded queue.

use async_trait::async_trait;
use gatehouse_core::model::PasswordHash;
use gatehouse_core::password::{Argon2Worker, HashError, Password, PasswordHasher};

/// argon2 on one dedicated thread, so password checks never stall the
/// workers that serve token requests.
///
/// One thread with one reused 19 MiB argon2 buffer ([`Argon2Worker`]), not
/// tokio's blocking pool with a fresh buffer per hash: glibc did not give
/// those buffers back, and resident memory grew by 19 MiB per sign-in up
/// to ~100 MB (and more under concurrent sign-ins). A hash takes ~15 ms,
/// so the thread serves about sixty checks a second. At most
/// [`HASH_QUEUE`] wait for it; beyond that a check is refused at once as
/// busy (503 with `Retry-After`), so a flood of guesses cannot make every
/// user's sign-in wait behind it.
#[derive(Clone)]
pub struct BlockingHasher {
    jobs: std::sync::mpsc::SyncSender<HashJob>,
}

impl std::fmt::Debug for BlockingHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingHasher").finish_non_exhaustive()
    }
}

/// Hashes that may wait for the hashing thread: about half a second of work.
pub const HASH_QUEUE: usize = 32;

type HashJob = Box<dyn FnOnce(&mut Argon2Worker) + Send>;

impl BlockingHasher {
    /// Starts the hashing thread, with room for `queue` waiting hashes. The
    /// thread ends when the last clone of the hasher is dropped.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn start(queue: usize) -> anyhow::Result<Self> {
        let (jobs, waiting) = std::sync::mpsc::sync_channel::<HashJob>(queue);
        std::thread::Builder::new()
            .name("gatehouse-argon2".into())
            .spawn(move || {
                let mut worker = Argon2Worker::new();
                for job in waiting {
                    job(&mut worker);
                }
            })
            .map_err(|e| anyhow::anyhow!("cannot start the password hashing thread: {e}"))?;
        Ok(Self { jobs })
    }

    /// Runs `work` on the hashing thread, with its argon2 buffer.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Argon2Worker) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let stopped =
            || HashError::Failed(anyhow::anyhow!("the password hashing thread has stopped"));
        self.jobs
            .try_send(Box::new(move |worker: &mut Argon2Worker| {
                let _ = answer.send(work(worker));
            }))
            .map_err(|e| match e {
                std::sync::mpsc::TrySendError::Full(_) => HashError::Busy,
                std::sync::mpsc::TrySendError::Disconnected(_) => stopped(),
            })?;
        answered.await.map_err(|_| stopped())
    }
}

#[async_trait]
impl PasswordHasher for BlockingHasher {
    async fn hash(&self, password: Password) -> Result<PasswordHash, HashError> {
        Ok(self.run(move |worker| worker.hash(&password)).await??)
    }

    async fn verify(&self, password: Password, hash: PasswordHash) -> Result<bool, HashError> {
        self.run(move |worker| worker.verify(&password, &hash))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_hashing_queue_answers_busy_at_once_instead_of_queueing() {
        let hasher = BlockingHasher::start(1).unwrap();
        let hash = gatehouse_core::password::hash_password_blocking(
            &Password::new_password("correct-horse-battery").unwrap(),
        )
        .unwrap();
        let checks = (0..10).map(|_| {
            hasher.verify(
                Password::presented("correct-horse-battery").unwrap(),
                hash.clone(),
            )
        });
        let results = futures::future::join_all(checks).await;
        let busy = results
            .iter()
            .filter(|r| matches!(r, Err(HashError::Busy)))
            .count();
        assert!(busy >= 5, "{busy} of 10 refused as busy");
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Ok(true) | Err(HashError::Busy)))
        );
        // Once the queue drains, checks go through again.
        let ok = hasher
            .verify(Password::presented("correct-horse-battery").unwrap(), hash)
            .await
            .unwrap();
        assert!(ok);
    }
}
