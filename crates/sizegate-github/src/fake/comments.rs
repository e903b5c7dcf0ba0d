//! The fake's comments: per issue, listed in pages with GitHub's `Link`
//! headers (next pages under `/repositories/{id}/…` as GitHub writes them).

use serde_json::{Value, json};

use super::FakeRepo;
use super::state::{FakeState, Reply, query_param};

const COMMENT_EXAMPLE: &str = include_str!("../../fixtures/api/issue-comment.create.json");

/// A comment held by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeComment {
    /// Comment id.
    pub id: u64,
    /// `owner/name`.
    pub repo: String,
    /// Issue or pull request number.
    pub issue: u64,
    /// Author login.
    pub login: String,
    /// Whether the author is a bot (an App).
    pub bot: bool,
    /// The App that wrote it (`performed_via_github_app.id`), if any.
    pub app_id: Option<u64>,
    /// Body.
    pub body: String,
}

impl FakeState {
    pub fn comments_of(&self, owner: &str, name: &str, number: u64) -> Vec<FakeComment> {
        let repo = format!("{owner}/{name}");
        self.comments
            .iter()
            .filter(|c| c.repo.eq_ignore_ascii_case(&repo) && c.issue == number)
            .cloned()
            .collect()
    }

    pub fn add_comment(
        &mut self,
        owner: &str,
        name: &str,
        number: u64,
        login: &str,
        bot: bool,
        body: &str,
    ) -> u64 {
        // A bot comment is written by the fake's own App (the one under
        // test) unless `add_comment_by_app` says otherwise.
        let app_id = bot.then_some(self.config.app_id);
        self.add_comment_by_app(owner, name, number, login, app_id, body)
    }

    pub fn add_comment_by_app(
        &mut self,
        owner: &str,
        name: &str,
        number: u64,
        login: &str,
        app_id: Option<u64>,
        body: &str,
    ) -> u64 {
        let id = self.next_id();
        self.comments.push(FakeComment {
            id,
            repo: format!("{owner}/{name}"),
            issue: number,
            login: login.to_owned(),
            bot: app_id.is_some(),
            app_id,
            body: body.to_owned(),
        });
        id
    }

    pub(super) fn list_comments(&self, repo: &FakeRepo, number: &str, query: &str) -> Reply {
        let Ok(number) = number.parse::<u64>() else {
            return Reply::message(404, "Not Found");
        };
        let per_page = query_param(query, "per_page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page = query_param(query, "page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let all = self.comments_of(&repo.owner, &repo.name, number);
        let last = all.len().div_ceil(per_page).max(1);
        let items: Vec<Value> = all
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|c| self.render_comment(c))
            .collect();
        let link = |p: usize, rel: &str| {
            format!(
                "<{}/repositories/{}/issues/{number}/comments?per_page={per_page}&page={p}>; rel=\"{rel}\"",
                self.link_url, repo.id
            )
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(link(page - 1, "prev"));
            links.push(link(1, "first"));
        }
        if page < last {
            links.push(link(page + 1, "next"));
            links.push(link(last, "last"));
        }
        let mut reply = Reply::json(200, Value::Array(items));
        if !links.is_empty() {
            reply.headers.push(("link".to_owned(), links.join(", ")));
        }
        reply
    }

    pub(super) fn create_comment(&mut self, repo: &FakeRepo, number: &str, body: &Value) -> Reply {
        let (Ok(number), Some(text)) = (number.parse::<u64>(), body["body"].as_str()) else {
            return Reply::message(422, "Invalid request: body is required");
        };
        let id = self.add_comment(&repo.owner, &repo.name, number, "sizegate[bot]", true, text);
        let comment = self.comments.iter().find(|c| c.id == id).cloned();
        match comment {
            Some(comment) => Reply::json(201, self.render_comment(&comment)),
            None => Reply::message(500, "comment vanished"),
        }
    }

    pub(super) fn update_comment(&mut self, repo: &FakeRepo, id: &str, body: &Value) -> Reply {
        let Some(text) = body["body"].as_str() else {
            return Reply::message(422, "Invalid request: body is required");
        };
        let full_name = format!("{}/{}", repo.owner, repo.name);
        let id = id.parse::<u64>().unwrap_or(0);
        let Some(comment) = self
            .comments
            .iter_mut()
            .find(|c| c.id == id && c.repo.eq_ignore_ascii_case(&full_name))
        else {
            return Reply::message(404, "Not Found");
        };
        comment.body = text.to_owned();
        let comment = comment.clone();
        Reply::json(200, self.render_comment(&comment))
    }

    pub(super) fn render_comment(&self, comment: &FakeComment) -> Value {
        let mut value: Value = serde_json::from_str(COMMENT_EXAMPLE).unwrap_or_default();
        let api = format!("{}/repos/{}", self.base_url, comment.repo);
        value["id"] = json!(comment.id);
        value["body"] = json!(comment.body);
        value["url"] = json!(format!("{api}/issues/comments/{}", comment.id));
        value["issue_url"] = json!(format!("{api}/issues/{}", comment.issue));
        value["html_url"] = json!(format!(
            "https://github.com/{}/pull/{}#issuecomment-{}",
            comment.repo, comment.issue, comment.id
        ));
        value["user"]["login"] = json!(comment.login);
        value["user"]["type"] = json!(if comment.bot { "Bot" } else { "User" });
        value["performed_via_github_app"] = match comment.app_id {
            Some(id) => json!({"id": id, "slug": format!("app-{id}"), "name": format!("App {id}")}),
            None => Value::Null,
        };
        value
    }
}
