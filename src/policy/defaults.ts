/** The default policy written by `aegisclaw init`: conservative, commented, and meant to be edited. */
export const DEFAULT_POLICY_YAML = `# AegisClaw policy. Every tool call an agent makes is checked against these rules.
#
# How a decision is made:
#   - A call needs all of its scopes covered (e.g. files.read:/home/you/notes.txt).
#   - For each scope, every rule whose "match" and "when" fit is considered;
#     deny beats ask beats allow. No fitting rule means DENY.
#   - An allow rule may carry constraints, checked against the call's actual
#     arguments; if one is violated the rule turns into its on_violation
#     (deny unless you say ask).
#   - "ask" needs a person to approve the call.
#
# Variables: \${workspace} (the agent's workspace), \${home}, \${profile}.
# Check what this file would do:  aegisclaw policy check --tool files.read --arg path=/etc/passwd
# See every rule considered:      aegisclaw policy explain --tool email.send --arg to=a@b.example
version: 1
rules:
  # --- Files -----------------------------------------------------------
  - id: files-read-workspace
    match: { scope: "files.read:\${workspace}/**" }
    decision: allow
    reason: The agent may read files inside its workspace.

  # files.write needs files.write:<file>; files.edit needs files.read AND
  # files.write of its file, so an edit inside the workspace asks as well.
  - id: files-write-workspace
    match: { scope: "files.write:\${workspace}/**" }
    decision: ask
    reason: Writing files changes your data; approve each write (or add a narrower allow rule).

  # The files that become the agent's instructions (the system prompt and
  # skills): content an e-mail or web page steered into them would be obeyed
  # as yours from then on.
  - id: agent-instructions-tainted-never
    match:
      scope:
        - "files.write:\${workspace}/AGENTS.md"
        - "files.write:\${workspace}/SOUL.md"
        - "files.write:\${workspace}/USER.md"
        - "files.write:\${workspace}/TOOLS.md"
        - "files.write:\${workspace}/MEMORY.md"
        - "files.write:\${workspace}/skills/**"
        - "files.write:\${workspace}/.agents/**"
    when: { tainted: true }
    decision: deny
    reason: Untrusted content influenced this change to the agent's own instructions or skills.

  - id: credentials-never
    match:
      scope:
        - "files.*:**/.ssh/**"
        - "files.*:**/.gnupg/**"
        - "files.*:**/.aws/**"
        - "files.*:**/.config/gcloud/**"
        - "files.*:**/.kube/**"
        - "files.*:**/.docker/config.json"
        - "files.*:**/.netrc"
        - "files.*:**/.env"
        - "files.*:**/.env.*"
        - "files.*:**/id_rsa*"
        - "files.*:**/id_ed25519*"
        - "files.*:\${profile}/**"
        - "files.*:/etc/shadow"
        - "files.*:/etc/gshadow"
        - "files.*:/etc/sudoers"
        - "files.*:/etc/sudoers.d/**"
        - "files.*:/dev/shm/**"
        - "files.*:/run/**"
        - "files.*:/var/run/**"
    decision: deny
    reason: Credential stores, system secrets, other actions' secret files and the AegisClaw profile are never readable by tools — not even inside a directory mounted into the sandbox, where they are hidden.

  # --- Skills --------------------------------------------------------------
  # Loading a skill only shows the model its SKILL.md instructions. What the
  # skill may then do is capped by what its SKILL.md declares, and judged here.
  - id: skills-load
    match: { scope: "skills.load" }
    decision: allow
    reason: Reading an installed skill's instructions changes nothing.

  # --- Commands (they run in the sandbox: see "aegisclaw doctor") -------
  # "actor" is who proposed the call: owner is you, typing \`aegisclaw exec\`;
  # model:* is an agent. Anyone else matches no rule here, so is denied.
  - id: shell-owner-command
    match: { scope: "shell.exec" }
    when: { actor: ["owner"] }
    decision: allow
    reason: A command you type yourself (aegisclaw exec) runs in the sandbox without a prompt.
  - id: shell-agent-asks
    match: { scope: "shell.exec" }
    when: { actor: ["model:*"] }
    decision: ask
    reason: An agent's command can do anything the sandbox allows; each one needs your approval.
  - id: owner-mounts
    match: { scope: ["files.read", "files.write"] }
    when: { actor: ["owner"] }
    decision: allow
    reason: Directories you give your own command (aegisclaw exec --mount) are yours to give; credential stores stay denied.
  - id: owner-network
    match: { scope: "net.connect" }
    when: { actor: ["owner"] }
    decision: allow
    reason: Hosts you allow your own command (aegisclaw exec --allow-net) may be reached through the egress proxy.
  - id: agent-network-asks
    match: { scope: "net.connect" }
    when: { actor: ["model:*"] }
    decision: ask
    reason: An agent's command reaching a host needs your approval until you allowlist it for the skill.

  # --- E-mail and messages -----------------------------------------------
  - id: email-read
    match: { scope: ["email.read", "calendar.read"] }
    decision: allow
    reason: Reading mail and calendars is allowed; what it contains is treated as untrusted input.

  - id: email-send-allowlist
    match: { scope: "email.send" }
    decision: allow
    constraints:
      # Add the people the agent may write to without asking, e.g. "*@yourcompany.example".
      recipients: ["you@example.invalid"]
    on_violation: ask
    reason: E-mail may go to allowlisted recipients without asking; anyone else needs your approval.

  - id: messages-send-asks
    match: { scope: "messages.send" }
    decision: ask
    reason: Sending chat messages in your name needs your approval.

  # The agent's message tool: message.send:<channel> (e.g. message.send:outbox).
  # An outbound message is the classic way to leak data, so every one asks;
  # to let a trusted channel through, add an allow rule for that channel only.
  - id: message-send-agent-asks
    match: { scope: "message.send" }
    when: { actor: ["model:*"] }
    decision: ask
    reason: A message an agent sends leaves your machine in your name; approve each one.

  # --- Money ---------------------------------------------------------------
  - id: payments-always-ask
    match: { scope: "payments.**" }
    decision: ask
    reason: Payments always need your approval.

  # --- Network ------------------------------------------------------------
  # web.fetch needs net.fetch:<host>; it goes through an egress proxy that
  # refuses private, loopback and cloud-metadata addresses whatever this says.
  - id: net-fetch-asks
    match: { scope: "net.fetch" }
    decision: ask
    reason: Fetching from the network needs approval until you allowlist hosts (constraints.domains).

  # --- Taint: untrusted input steering an outbound action ----------------
  # An "ask" under when: { tainted: true } only tightens: it turns an allow into
  # a question, never a deny (or a scope no other rule covers) into one.
  - id: tainted-outbound-asks
    match:
      scope: ["email.send", "messages.send", "message.send", "net.**", "shell.exec", "payments.**", "files.write", "calendar.write"]
    when: { tainted: true }
    decision: ask
    reason: Untrusted content (an e-mail, a web page, a tool output) influenced this action and it sends data out or changes things.
`;
