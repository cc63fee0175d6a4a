//! Who is calling, and what their token lets them do.

use contaxy_common::domain::{AccessLevel, Permission, ProjectId, Subject, TokenId};

/// The authenticated caller of a request: the token's subject and scopes.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who the token acts for.
    pub subject: Subject,
    /// The token's id; `None` for the configured admin token.
    pub token_id: Option<TokenId>,
    /// What the token may do, before the subject's own limits.
    pub scopes: Vec<Permission>,
}

impl Caller {
    /// The configured bootstrap admin: `users/admin` with `*#admin`.
    pub fn bootstrap_admin() -> Self {
        Self {
            subject: Subject::admin(),
            token_id: None,
            scopes: vec![
                Permission::new("*", AccessLevel::Admin).expect("`*#admin` is a valid permission"),
            ],
        }
    }

    /// The level this caller has on `resource` (within `project`, or the
    /// project itself), given the subject's membership level in the project.
    ///
    /// The token's scopes give a level; the subject caps it: a user up to
    /// their membership, a project token only within its own project. The
    /// system administrator is capped by nothing but the scopes.
    pub fn level_in_project(
        &self,
        project: &ProjectId,
        resource: &str,
        member: Option<AccessLevel>,
    ) -> Option<AccessLevel> {
        let by_scope = Permission::level_on(&self.scopes, resource)?;
        match &self.subject {
            subject if subject.is_admin() => Some(by_scope),
            Subject::User(_) => member.map(|member| member.min(by_scope)),
            Subject::Project(own) => (own == project).then_some(by_scope),
        }
    }

    /// The level on a resource outside every project (`projects`, `users/x`,
    /// `*`): the scopes alone decide.
    pub fn level_outside_projects(&self, resource: &str) -> Option<AccessLevel> {
        Permission::level_on(&self.scopes, resource)
    }
}

/// The project a resource path lies in (`projects/{id}` or below), if any.
pub fn project_of(resource: &str) -> Option<ProjectId> {
    let rest = resource.strip_prefix("projects/")?;
    let id = rest.split('/').next()?;
    ProjectId::parse(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use contaxy_common::domain::UserId;

    fn caller(subject: &str, scopes: &[&str]) -> Caller {
        Caller {
            subject: Subject::parse(subject).expect("subject"),
            token_id: None,
            scopes: scopes
                .iter()
                .map(|s| Permission::parse(s).expect("scope"))
                .collect(),
        }
    }

    fn project(id: &str) -> ProjectId {
        ProjectId::parse(id).expect("project")
    }

    #[test]
    fn a_user_is_capped_by_membership_and_by_scopes() {
        let alice = caller("users/alice", &["projects#admin"]);
        let demo = project("demo");
        use AccessLevel::*;
        assert_eq!(
            alice.level_in_project(&demo, "projects/demo", Some(Write)),
            Some(Write)
        );
        assert_eq!(alice.level_in_project(&demo, "projects/demo", None), None);
        let narrow = caller("users/alice", &["projects/demo#read"]);
        assert_eq!(
            narrow.level_in_project(&demo, "projects/demo", Some(Admin)),
            Some(Read)
        );
        assert_eq!(
            narrow.level_in_project(&project("other"), "projects/other", Some(Admin)),
            None
        );
    }

    #[test]
    fn a_project_token_acts_only_in_its_project_and_the_admin_everywhere() {
        let token = caller("projects/demo", &["projects/demo#write"]);
        assert_eq!(
            token.level_in_project(&project("demo"), "projects/demo", None),
            Some(AccessLevel::Write)
        );
        // Even a (hand-made) wider scope does not reach another project.
        let wide = caller("projects/demo", &["*#admin"]);
        assert_eq!(
            wide.level_in_project(&project("else"), "projects/else", None),
            None
        );
        let admin = Caller::bootstrap_admin();
        assert_eq!(
            admin.level_in_project(&project("else"), "projects/else", None),
            Some(AccessLevel::Admin)
        );
        assert_eq!(
            admin.level_outside_projects("users/bob"),
            Some(AccessLevel::Admin)
        );
        assert!(
            matches!(&admin.subject, Subject::User(u) if *u == UserId::parse("admin").expect("id"))
        );
    }

    #[test]
    fn resources_are_placed_in_their_project() {
        assert_eq!(project_of("projects/demo"), Some(project("demo")));
        assert_eq!(
            project_of("projects/demo/services/x"),
            Some(project("demo"))
        );
        assert_eq!(project_of("projects"), None);
        assert_eq!(project_of("users/demo"), None);
    }
}
