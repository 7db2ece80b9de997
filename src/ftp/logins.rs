//! FTP logins: each creator's user name and password (`venuebox creator ftp NAME`),
//! checked against `creators`, counted by the shared failed-login limiter; sessions
//! relayed from the implicit-FTPS port are counted under their real client address.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use unftp_core::auth::{
    AuthenticationError, Authenticator, Credentials, Principal, UserDetail, UserDetailError,
    UserDetailProvider,
};

use crate::creators::{self, Creator};
use crate::db::{Store, StoreError};

/// A logged-in creator, as libunftp carries them through a session.
#[derive(Debug, Clone)]
pub struct CameraUser {
    /// The creator.
    pub creator: Creator,
}

impl fmt::Display for CameraUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "creator {}", self.creator.id)
    }
}

impl UserDetail for CameraUser {}

/// Checks FTP logins against the creators' credentials.
#[derive(Debug)]
pub(super) struct CreatorLogins {
    /// Where creators and their FTP logins are.
    pub(super) store: Store,
    /// Failed FTP logins per client address (apart from the admin login's count).
    pub(super) limiter: crate::auth::LoginLimiter,
}

#[async_trait]
impl Authenticator for CreatorLogins {
    async fn authenticate(
        &self,
        username: &str,
        creds: &Credentials,
    ) -> Result<Principal, AuthenticationError> {
        // Counted before it is checked (a burst of PASS commands cannot all slip
        // under the limit); locked out: refused even with the right password.
        if self.limiter.attempt(creds.source_ip).is_err() {
            tracing::warn!(client = %creds.source_ip, "FTP login refused: too many failures");
            return Err(AuthenticationError::IpDisallowed);
        }
        let password = creds
            .password
            .clone()
            .ok_or(AuthenticationError::BadPassword)?;
        let user = username.to_string();
        let found = self
            .store
            .read(move |c| creators::by_ftp_login(c, &user, &password).map_err(StoreError::from))
            .await
            .map_err(|e| AuthenticationError::with_source("store", e))?;
        match found {
            Some(_) => {
                self.limiter.succeeded(creds.source_ip);
                Ok(Principal {
                    username: username.to_string(),
                })
            }
            None => {
                tracing::warn!(client = %creds.source_ip, "failed FTP login");
                Err(AuthenticationError::BadPassword)
            }
        }
    }
}

#[async_trait]
impl UserDetailProvider for CreatorLogins {
    type User = CameraUser;

    async fn provide_user_detail(
        &self,
        principal: &Principal,
    ) -> Result<CameraUser, UserDetailError> {
        let user = principal.username.clone();
        let creator = self
            .store
            .read(move |c| creators::by_ftp_user(c, &user).map_err(StoreError::from))
            .await
            .map_err(|e| UserDetailError::with_source("store", e))?
            .ok_or_else(|| UserDetailError::UserNotFound {
                username: principal.username.clone(),
            })?;
        Ok(CameraUser { creator })
    }
}

/// Logins of a session relayed from the implicit-FTPS port: libunftp sees the relay's
/// loopback address, so the real client's address is put back before the failed-login
/// limiter counts it.
#[derive(Debug)]
pub(super) struct RelayedLogins {
    /// The logins every session checks against.
    pub(super) inner: Arc<CreatorLogins>,
    /// The real client, behind the relay.
    pub(super) peer: IpAddr,
}

#[async_trait]
impl Authenticator for RelayedLogins {
    async fn authenticate(
        &self,
        username: &str,
        creds: &Credentials,
    ) -> Result<Principal, AuthenticationError> {
        let mut creds = creds.clone();
        creds.source_ip = self.peer;
        self.inner.authenticate(username, &creds).await
    }
}
