//! One action name per API endpoint, and the resource it acts on. The
//! table in `docs/IAM.md` lists the same names; handlers use these
//! constants so a typo is a compile error.

/// `orgs:*`
pub mod orgs {
    /// `POST /orgs` on `mrn:orgs:<org>::org/<org>`.
    pub const CREATE_ORG: &str = "orgs:CreateOrg";
    /// `GET /orgs/{org}` (and listing it) on `mrn:orgs:<org>::org/<org>`.
    pub const GET_ORG: &str = "orgs:GetOrg";
    /// `DELETE /orgs/{org}`.
    pub const DELETE_ORG: &str = "orgs:DeleteOrg";
    /// `POST /orgs/{org}/projects` on `mrn:orgs:<org>:<project>:project/<project>`.
    pub const CREATE_PROJECT: &str = "orgs:CreateProject";
    /// `GET /orgs/{org}/projects/{p}` (and listing it).
    pub const GET_PROJECT: &str = "orgs:GetProject";
    /// `DELETE /orgs/{org}/projects/{p}`.
    pub const DELETE_PROJECT: &str = "orgs:DeleteProject";
    /// `POST /projects/{p}/domains` on `mrn:orgs:<org>:<project>:domain/<name>`.
    pub const CREATE_DOMAIN: &str = "orgs:CreateDomain";
    /// `GET /projects/{p}/domains/{name}`.
    pub const GET_DOMAIN: &str = "orgs:GetDomain";
    /// `GET /projects/{p}/domains` on `...:domain/*`.
    pub const LIST_DOMAINS: &str = "orgs:ListDomains";
    /// `POST /projects/{p}/domains/{name}/verify`.
    pub const VERIFY_DOMAIN: &str = "orgs:VerifyDomain";
    /// `DELETE /projects/{p}/domains/{name}`.
    pub const DELETE_DOMAIN: &str = "orgs:DeleteDomain";
}

/// `functions:*`, on `mrn:functions:<org>:<project>:function/<name>` or
/// `...:route/<id>`.
pub mod functions {
    /// `PUT .../functions/{name}`.
    pub const CREATE_FUNCTION: &str = "functions:CreateFunction";
    /// `GET .../functions/{name}`, `.../versions`, and listing.
    pub const GET_FUNCTION: &str = "functions:GetFunction";
    /// `GET .../functions` on `...:function/*`.
    pub const LIST_FUNCTIONS: &str = "functions:ListFunctions";
    /// `PATCH .../functions/{name}`.
    pub const UPDATE_FUNCTION: &str = "functions:UpdateFunction";
    /// `DELETE .../functions/{name}`.
    pub const DELETE_FUNCTION: &str = "functions:DeleteFunction";
    /// `PATCH .../functions/{name}` with `tags` (with `mc:RequestTag/<key>`
    /// and `mc:TagKeys`).
    pub const TAG_RESOURCE: &str = "functions:TagResource";
    /// `POST .../invoke`, and authenticated HTTP triggers.
    pub const INVOKE_FUNCTION: &str = "functions:InvokeFunction";
    /// `GET .../logs`.
    pub const GET_LOGS: &str = "functions:GetLogs";
    /// `GET .../invocations`.
    pub const LIST_INVOCATIONS: &str = "functions:ListInvocations";
    /// `POST .../routes` on `...:route/*`.
    pub const CREATE_ROUTE: &str = "functions:CreateRoute";
    /// `GET .../routes`.
    pub const LIST_ROUTES: &str = "functions:ListRoutes";
    /// `DELETE .../routes/{id}`.
    pub const DELETE_ROUTE: &str = "functions:DeleteRoute";
}

/// `iam:*`, on `mrn:iam:<org>::<type>/<name>`.
pub mod iam {
    /// `POST /orgs/{org}/users`.
    pub const CREATE_USER: &str = "iam:CreateUser";
    /// `GET /orgs/{org}/users/{u}`.
    pub const GET_USER: &str = "iam:GetUser";
    /// `GET /orgs/{org}/users`.
    pub const LIST_USERS: &str = "iam:ListUsers";
    /// `PATCH /orgs/{org}/users/{u}` with `tags` (with `mc:RequestTag/<key>`
    /// and `mc:TagKeys`).
    pub const TAG_USER: &str = "iam:TagUser";
    /// `DELETE /orgs/{org}/users/{u}`.
    pub const DELETE_USER: &str = "iam:DeleteUser";
    /// `POST /orgs/{org}/users/{u}/keys` on `...:user/<u>`.
    pub const CREATE_API_KEY: &str = "iam:CreateApiKey";
    /// `GET /orgs/{org}/users/{u}/keys`.
    pub const LIST_API_KEYS: &str = "iam:ListApiKeys";
    /// `DELETE /orgs/{org}/users/{u}/keys/{id}`.
    pub const REVOKE_API_KEY: &str = "iam:RevokeApiKey";
    /// `POST /orgs/{org}/policies`.
    pub const CREATE_POLICY: &str = "iam:CreatePolicy";
    /// `GET /orgs/{org}/policies/{p}`, and listing.
    pub const GET_POLICY: &str = "iam:GetPolicy";
    /// `GET /orgs/{org}/policies`.
    pub const LIST_POLICIES: &str = "iam:ListPolicies";
    /// `PUT /orgs/{org}/policies/{p}`.
    pub const UPDATE_POLICY: &str = "iam:UpdatePolicy";
    /// `DELETE /orgs/{org}/policies/{p}`.
    pub const DELETE_POLICY: &str = "iam:DeletePolicy";
    /// `POST /orgs/{org}/roles`.
    pub const CREATE_ROLE: &str = "iam:CreateRole";
    /// `GET /orgs/{org}/roles/{r}`.
    pub const GET_ROLE: &str = "iam:GetRole";
    /// `GET /orgs/{org}/roles`.
    pub const LIST_ROLES: &str = "iam:ListRoles";
    /// `DELETE /orgs/{org}/roles/{r}`.
    pub const DELETE_ROLE: &str = "iam:DeleteRole";
    /// `PUT/DELETE /orgs/{org}/roles/{r}/policies/{p}`.
    pub const ATTACH_ROLE_POLICY: &str = "iam:AttachRolePolicy";
    /// `PUT/DELETE /orgs/{org}/roles/{r}/inline-policies/{p}`.
    pub const PUT_ROLE_POLICY: &str = "iam:PutRolePolicy";
    /// `POST /orgs/{org}/bindings` on `...:binding/*`.
    pub const CREATE_BINDING: &str = "iam:CreateBinding";
    /// `GET /orgs/{org}/bindings`.
    pub const LIST_BINDINGS: &str = "iam:ListBindings";
    /// `DELETE /orgs/{org}/bindings/{id}`.
    pub const DELETE_BINDING: &str = "iam:DeleteBinding";
    /// `POST /policies/simulate` on `mrn:iam:<org>::simulator`.
    pub const SIMULATE_POLICY: &str = "iam:SimulatePolicy";
    /// `POST /auth/signing-keys/rotate` on `mrn:iam:::signing-keys`.
    pub const ROTATE_SIGNING_KEYS: &str = "iam:RotateSigningKeys";
    /// Make a role a function's execution role.
    pub const PASS_ROLE: &str = "iam:PassRole";
}

/// `storage:*`, on `mrn:storage:<org>:<project>:bucket/<bucket>[/<key>]`:
/// buckets and objects, through the API and as host calls of functions.
pub mod storage {
    /// Create a bucket.
    pub const CREATE_BUCKET: &str = "storage:CreateBucket";
    /// List a project's buckets.
    pub const LIST_BUCKETS: &str = "storage:ListBuckets";
    /// Delete an empty bucket.
    pub const DELETE_BUCKET: &str = "storage:DeleteBucket";
    /// List a bucket's objects.
    pub const LIST_BUCKET: &str = "storage:ListBucket";
    /// Read an object or its metadata.
    pub const GET_OBJECT: &str = "storage:GetObject";
    /// Write an object.
    pub const PUT_OBJECT: &str = "storage:PutObject";
    /// Delete an object.
    pub const DELETE_OBJECT: &str = "storage:DeleteObject";
}

/// `secrets:*`, on `mrn:secrets:<org>:<project>:secret/<name>`.
pub mod secrets {
    /// Create a secret with its first value.
    pub const CREATE_SECRET: &str = "secrets:CreateSecret";
    /// List a project's secrets (metadata only).
    pub const LIST_SECRETS: &str = "secrets:ListSecrets";
    /// Read a secret's metadata and versions (no values).
    pub const DESCRIBE_SECRET: &str = "secrets:DescribeSecret";
    /// Add a version (rotation).
    pub const PUT_SECRET_VALUE: &str = "secrets:PutSecretValue";
    /// Reveal a value (also the host call of functions).
    pub const GET_SECRET_VALUE: &str = "secrets:GetSecretValue";
    /// Remove one version.
    pub const DELETE_SECRET_VERSION: &str = "secrets:DeleteSecretVersion";
    /// Remove a secret and all its versions.
    pub const DELETE_SECRET: &str = "secrets:DeleteSecret";
}

/// `events:*`, on `mrn:events:<org>:<project>:rule/<name>` or
/// `...:source/<source>`.
pub mod events {
    /// `POST /events/test-pattern`, on `mrn:events:<org>::pattern-tester`.
    pub const TEST_EVENT_PATTERN: &str = "events:TestEventPattern";
    /// `POST .../rules` and `PATCH .../rules/{name}`; the caller also needs
    /// `functions:InvokeFunction` on every target.
    pub const PUT_RULE: &str = "events:PutRule";
    /// `GET .../rules/{name}`.
    pub const DESCRIBE_RULE: &str = "events:DescribeRule";
    /// `GET .../rules` on `...:rule/*`.
    pub const LIST_RULES: &str = "events:ListRules";
    /// `DELETE .../rules/{name}`.
    pub const DELETE_RULE: &str = "events:DeleteRule";
    /// Listening on a NATS subject (a rule's `sources.subjects`) or
    /// publishing dead letters to one, on `mrn:events:<org>::subject/<s>`:
    /// subjects are shared by everyone on the NATS account, so they belong
    /// to the org, and project roles do not grant them.
    pub const USE_SUBJECT: &str = "events:UseSubject";
    /// `POST .../events` on `...:source/<source>` of each entry; also the
    /// host call `events.publish` of functions.
    pub const PUT_EVENTS: &str = "events:PutEvents";
    /// `GET .../dead-letters` on `...:rule/*`.
    pub const LIST_DEAD_LETTERS: &str = "events:ListDeadLetters";
    /// `POST .../dead-letters/{id}/replay` on `...:rule/<rule>`.
    pub const REPLAY_DEAD_LETTER: &str = "events:ReplayDeadLetter";
    /// `DELETE .../dead-letters/{id}` on `...:rule/<rule>`.
    pub const DELETE_DEAD_LETTER: &str = "events:DeleteDeadLetter";
}

/// `workflows:*`, on `mrn:workflows:<org>:<project>:workflow/<name>`
/// (executions and task tokens act on their workflow).
pub mod workflows {
    /// `PUT .../workflows/{name}`; with a role, also `iam:PassRole` on it.
    pub const CREATE_WORKFLOW: &str = "workflows:CreateWorkflow";
    /// `GET .../workflows/{name}`.
    pub const GET_WORKFLOW: &str = "workflows:GetWorkflow";
    /// `GET .../workflows` on `...:workflow/*`.
    pub const LIST_WORKFLOWS: &str = "workflows:ListWorkflows";
    /// `DELETE .../workflows/{name}`.
    pub const DELETE_WORKFLOW: &str = "workflows:DeleteWorkflow";
    /// `POST .../workflows/{name}/executions` and `.../start-sync`.
    pub const START_EXECUTION: &str = "workflows:StartExecution";
    /// `GET .../workflows/{name}/executions`.
    pub const LIST_EXECUTIONS: &str = "workflows:ListExecutions";
    /// `GET .../executions/{id}`.
    pub const DESCRIBE_EXECUTION: &str = "workflows:DescribeExecution";
    /// `GET .../executions/{id}/history`.
    pub const GET_EXECUTION_HISTORY: &str = "workflows:GetExecutionHistory";
    /// `GET .../workflows/{name}/tasks`: open tasks and their tokens.
    pub const LIST_TASKS: &str = "workflows:ListTasks";
    /// `POST .../executions/{id}/stop`.
    pub const STOP_EXECUTION: &str = "workflows:StopExecution";
    /// `POST /task-tokens/success`, on the token's workflow.
    pub const SEND_TASK_SUCCESS: &str = "workflows:SendTaskSuccess";
    /// `POST /task-tokens/failure`, on the token's workflow.
    pub const SEND_TASK_FAILURE: &str = "workflows:SendTaskFailure";
    /// `POST /task-tokens/heartbeat`, on the token's workflow.
    pub const SEND_TASK_HEARTBEAT: &str = "workflows:SendTaskHeartbeat";
}

/// `auth:*`: not authorized (the caller is not known yet) but audited.
pub mod auth {
    /// `POST /auth/login` on `mrn:iam:<org>::login`.
    pub const LOGIN: &str = "auth:Login";
}

/// `quotas:*`, on `mrn:quotas:::org/<org>` and `mrn:quotas:::project/<p>`:
/// platform resources, which only platform-wide grants (the
/// Administrator's) reach, so no org can raise its own quotas. Reading a
/// quota is `orgs:GetOrg` or `orgs:GetProject` on the org or project.
pub mod quotas {
    /// `PUT /orgs/{org}/quota` and `PUT /projects/{p}/quota`.
    pub const PUT_QUOTA: &str = "quotas:PutQuota";
}

/// `audit:*`, on `mrn:audit:<org>::log`.
pub mod audit {
    /// `GET /orgs/{org}/audit`.
    pub const LIST_RECORDS: &str = "audit:ListRecords";
    /// `GET /orgs/{org}/audit/verify`.
    pub const VERIFY_LOG: &str = "audit:VerifyLog";
}

/// `GET /metrics` on the main address, on `mrn:metrics:::platform`.
pub const METRICS_GET: &str = "metrics:GetMetrics";
