//! The provenance of an upload (see `sizegate_store::uploads::Provenance`)
//! and, for GitHub OIDC uploads, the branch and pull request taken from the
//! token's claims instead of the request body: a workflow run for a pull
//! request can sign what it likes into the body, but not into its token.

use sizegate_store::uploads::Provenance;

use crate::ApiError;
use crate::auth::OidcRun;

/// What an upload is, once its credentials have been weighed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UploadOrigin {
    /// How it was authenticated.
    pub provenance: Provenance,
    /// The branch it was built on.
    pub branch: Option<String>,
    /// The pull request it was built for.
    pub pr_number: Option<i64>,
}

/// An upload token: trusted, so the body says what it is; `fork` in the
/// body marks what a privileged workflow uploads for a fork.
pub(crate) fn token_origin(
    branch: Option<String>,
    pr_number: Option<i64>,
    fork: bool,
) -> UploadOrigin {
    UploadOrigin {
        provenance: if fork {
            Provenance::Fork
        } else {
            Provenance::Token
        },
        branch,
        pr_number,
    }
}

/// A GitHub OIDC token: the run's claims decide. A `push` run uploads the
/// commit it was started for (`sha` must be the uploaded commit) on the
/// branch of its `ref`; any other run (`pull_request`,
/// `pull_request_target`, `workflow_run`, ...) is `oidc-pull-request`,
/// never a baseline, with the pull request number of its `ref` when it has
/// one. A body that contradicts the claims is refused rather than quietly
/// corrected, so a misconfigured workflow is noticed.
pub(crate) fn oidc_origin(
    run: &OidcRun,
    commit: &str,
    body_branch: Option<String>,
    body_pr: Option<i64>,
    fork: bool,
) -> Result<UploadOrigin, ApiError> {
    if run.event_name == "push" {
        let token_sha = run.sha.as_deref().unwrap_or_default();
        if !token_sha.eq_ignore_ascii_case(commit) {
            return Err(ApiError::Forbidden(format!(
                "this OIDC token was issued to a push of commit {}, not {commit}: a push run uploads only its own commit",
                if token_sha.is_empty() {
                    "(none)"
                } else {
                    token_sha
                }
            )));
        }
        let branch = run
            .git_ref
            .as_deref()
            .and_then(|r| r.strip_prefix("refs/heads/"))
            .map(str::to_owned);
        if let Some(claimed) = &body_branch
            && branch.as_deref() != Some(claimed.as_str())
        {
            return Err(ApiError::Forbidden(format!(
                "meta.branch `{claimed}` contradicts the OIDC token's ref `{}`",
                run.git_ref.as_deref().unwrap_or("")
            )));
        }
        if let Some(pr) = body_pr {
            return Err(ApiError::Forbidden(format!(
                "meta.pr {pr} was sent with the OIDC token of a push run; pull request uploads come from pull request runs"
            )));
        }
        return Ok(UploadOrigin {
            provenance: if fork {
                Provenance::Fork
            } else {
                Provenance::OidcPush
            },
            branch,
            pr_number: None,
        });
    }
    let ref_pr = run
        .git_ref
        .as_deref()
        .and_then(|r| r.strip_prefix("refs/pull/"))
        .and_then(|r| r.split('/').next())
        .and_then(|n| n.parse::<i64>().ok());
    if let (Some(from_ref), Some(claimed)) = (ref_pr, body_pr)
        && from_ref != claimed
    {
        return Err(ApiError::Forbidden(format!(
            "meta.pr {claimed} contradicts the OIDC token's ref `{}`",
            run.git_ref.as_deref().unwrap_or("")
        )));
    }
    // `pull_request_target` runs on the base branch, so its ref names no
    // pull request: the body's number is taken (it only chooses where this
    // untrusted result is shown).
    let branch = run.head_ref.clone().filter(|b| !b.is_empty());
    Ok(UploadOrigin {
        provenance: if fork {
            Provenance::Fork
        } else {
            Provenance::OidcPullRequest
        },
        branch,
        pr_number: ref_pr.or(body_pr),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(event: &str, git_ref: &str, sha: &str) -> OidcRun {
        OidcRun {
            event_name: event.into(),
            git_ref: Some(git_ref.into()),
            sha: Some(sha.into()),
            head_ref: None,
        }
    }

    #[test]
    fn a_push_token_uploads_only_its_own_commit_on_its_own_branch() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let push = run("push", "refs/heads/main", &a);
        let origin = oidc_origin(&push, &a, None, None, false).unwrap();
        assert_eq!(origin.provenance, Provenance::OidcPush);
        assert_eq!(origin.branch.as_deref(), Some("main"));
        let err = oidc_origin(&push, &b, None, None, false).unwrap_err();
        assert!(err.to_string().contains("only its own commit"), "{err}");
        let err = oidc_origin(&push, &a, Some("release".into()), None, false).unwrap_err();
        assert!(err.to_string().contains("contradicts"), "{err}");
        assert!(oidc_origin(&push, &a, None, Some(3), false).is_err());
        // A tag push is trusted but names no branch: never eligible.
        let tag = run("push", "refs/tags/v1", &a);
        assert_eq!(
            oidc_origin(&tag, &a, None, None, false).unwrap().branch,
            None
        );
    }

    #[test]
    fn pull_request_tokens_are_never_push_uploads() {
        let main_head = "c".repeat(40);
        for event in [
            "pull_request",
            "pull_request_target",
            "workflow_run",
            "workflow_dispatch",
        ] {
            let pr = OidcRun {
                head_ref: Some("feature".into()),
                ..run(event, "refs/pull/7/merge", &"d".repeat(40))
            };
            // It may claim main's head and `branch: main`: it stays a pull
            // request upload, on its own head branch.
            let origin = oidc_origin(&pr, &main_head, Some("main".into()), None, false).unwrap();
            assert_eq!(origin.provenance, Provenance::OidcPullRequest, "{event}");
            assert_eq!(origin.branch.as_deref(), Some("feature"));
            assert_eq!(origin.pr_number, Some(7));
            assert!(oidc_origin(&pr, &main_head, None, Some(8), false).is_err());
        }
        let target = run("pull_request_target", "refs/heads/main", &"e".repeat(40));
        let origin = oidc_origin(&target, &main_head, Some("main".into()), Some(9), false).unwrap();
        assert_eq!(origin.provenance, Provenance::OidcPullRequest);
        assert_eq!((origin.branch, origin.pr_number), (None, Some(9)));
    }

    #[test]
    fn the_fork_flag_only_lowers_trust() {
        assert_eq!(token_origin(None, None, true).provenance, Provenance::Fork);
        assert_eq!(
            token_origin(None, None, false).provenance,
            Provenance::Token
        );
        let a = "a".repeat(40);
        let push = run("push", "refs/heads/main", &a);
        assert_eq!(
            oidc_origin(&push, &a, None, None, true).unwrap().provenance,
            Provenance::Fork
        );
    }
}
