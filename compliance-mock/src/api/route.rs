//! Which API a request path names.

/// The legacy stateful endpoints under `/v1/compliance/workspaces/{ws}/`
/// and the Logs Platform endpoints.
#[derive(Debug, PartialEq)]
pub enum Api {
    Conversations,
    ConversationMessages(String),
    Users,
    Gpts,
    Projects,
    Memories,
    LogList,
    LogFile(String),
    MaxEventTime,
    /// `users/{user_id}/files/{file_id}`: an uploaded file's 307.
    UserFile {
        user: String,
        file: String,
    },
}

#[derive(Debug, PartialEq)]
pub enum Route {
    Legacy {
        workspace: String,
        api: Api,
    },
    Logs {
        org: bool,
        id: String,
        api: Api,
    },
    AuditLogs,
    Download {
        file_id: String,
    },
    /// The signed URL of an uploaded file.
    FileDownload {
        file_id: String,
    },
    Unknown,
}

impl Route {
    /// The rate limiter's name for the endpoint (route template).
    pub fn endpoint(&self) -> &'static str {
        match self {
            Route::Legacy { api, .. } | Route::Logs { api, .. } => match api {
                Api::Conversations => "conversations",
                Api::ConversationMessages(_) => "conversations/{id}/messages",
                Api::Users => "users",
                Api::Gpts => "gpts",
                Api::Projects => "projects",
                Api::Memories => "memories",
                Api::LogList => "logs",
                Api::LogFile(_) => "logs/{id}",
                Api::MaxEventTime => "max_event_time",
                Api::UserFile { .. } => "users/{id}/files/{id}",
            },
            Route::AuditLogs => "audit_logs",
            Route::Download { .. } | Route::FileDownload { .. } => "download",
            Route::Unknown => "unknown",
        }
    }
}

pub fn classify(path: &str) -> Route {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match segs.as_slice() {
        ["v1", "organization", "audit_logs"] => Route::AuditLogs,
        ["download", "logs", id] => Route::Download {
            file_id: id.to_string(),
        },
        ["download", "files", id] => Route::FileDownload {
            file_id: id.to_string(),
        },
        ["v1", "compliance", scope @ ("workspaces" | "organizations"), id, rest @ ..] => {
            let org = *scope == "organizations";
            let logs = |api| Route::Logs {
                org,
                id: id.to_string(),
                api,
            };
            let legacy = |api| {
                if org {
                    Route::Unknown
                } else {
                    Route::Legacy {
                        workspace: id.to_string(),
                        api,
                    }
                }
            };
            match rest {
                ["logs"] => logs(Api::LogList),
                ["logs", file] => logs(Api::LogFile(file.to_string())),
                ["max_event_time"] => logs(Api::MaxEventTime),
                ["conversations"] => legacy(Api::Conversations),
                ["conversations", conv, "messages"] => {
                    legacy(Api::ConversationMessages(conv.to_string()))
                }
                ["users"] => legacy(Api::Users),
                ["users", user, "files", file] => legacy(Api::UserFile {
                    user: user.to_string(),
                    file: file.to_string(),
                }),
                ["gpts"] => legacy(Api::Gpts),
                ["projects"] => legacy(Api::Projects),
                ["memories"] => legacy(Api::Memories),
                _ => Route::Unknown,
            }
        }
        _ => Route::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(classify("/v1/organization/audit_logs"), Route::AuditLogs);
        assert_eq!(
            classify("/v1/compliance/workspaces/w/conversations/c1/messages"),
            Route::Legacy {
                workspace: "w".into(),
                api: Api::ConversationMessages("c1".into())
            }
        );
        assert_eq!(
            classify("/v1/compliance/organizations/org-1/logs/log_a"),
            Route::Logs {
                org: true,
                id: "org-1".into(),
                api: Api::LogFile("log_a".into())
            }
        );
        assert_eq!(
            classify("/v1/compliance/organizations/org-1/users"),
            Route::Unknown
        );
        assert_eq!(classify("/v2/x"), Route::Unknown);
        assert_eq!(
            classify("/v1/compliance/workspaces/w/users/u1/files/file-1"),
            Route::Legacy {
                workspace: "w".into(),
                api: Api::UserFile {
                    user: "u1".into(),
                    file: "file-1".into()
                }
            }
        );
        assert_eq!(
            classify("/download/files/file-1"),
            Route::FileDownload {
                file_id: "file-1".into()
            }
        );
    }
}
