/**
 * Pending approvals held in memory by a running agent (`aegisclaw chat`,
 * `aegisclaw run`): the envelope asks, a responder (the chat's /approve, the
 * HTTP API) answers. An answer is bound to the exact action: the request
 * records the action digest, and the answer must name the request id. What a
 * responder sees is what the envelope scrubbed of secrets (`ApprovalRequest.shown`). Unanswered requests are denied by the
 * envelope's approval timeout; a request whose action was cancelled is removed.
 * (The persisted queue, "approve always" and the web UI build on this.)
 */
import { randomBytes } from "node:crypto";
import type { ApprovalAnswer, ApprovalRequest, Approver } from "../envelope/stages.ts";

export interface PendingApproval {
  /** Short id a person types: `/approve 3f9a2c`. */
  readonly id: string;
  readonly actionId: string;
  /** SHA-256 of tool + canonical arguments: what an answer approves. */
  readonly digest: string;
  readonly tool: string;
  readonly scopes: readonly string[];
  /** Arguments as JSON, scrubbed of secrets. */
  readonly args: string;
  readonly reason: string;
  readonly rule: string | undefined;
  readonly risk: string;
  readonly actor: string;
  readonly session: string;
  readonly skill: string | undefined;
  readonly labels: readonly string[];
  readonly influencedBy: readonly string[];
  readonly created: string;
}

/** Cut with a visible marker: a person approving must know there is more than they see. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… [truncated: ${String(text.length)} characters in all]`;
}

export type ApprovalEvent = { readonly type: "requested"; readonly approval: PendingApproval } | { readonly type: "answered"; readonly id: string; readonly approved: boolean; readonly by: string; readonly channel: string };

interface Waiting {
  readonly approval: PendingApproval;
  readonly resolve: (a: ApprovalAnswer) => void;
}

export class PendingApprovals implements Approver {
  readonly #waiting = new Map<string, Waiting>();
  readonly #listeners = new Set<(e: ApprovalEvent) => void>();
  #closed: string | undefined;

  request(req: ApprovalRequest, signal: AbortSignal): Promise<ApprovalAnswer> {
    if (this.#closed !== undefined) return Promise.resolve({ approved: false, by: "system", channel: "shutdown", note: this.#closed });
    const a = req.action;
    let id = randomBytes(3).toString("hex");
    while (this.#waiting.has(id)) id = randomBytes(3).toString("hex");
    const approval: PendingApproval = {
      id,
      actionId: a.id,
      digest: a.digest,
      tool: a.tool,
      scopes: req.shown.scopes,
      args: clip(req.shown.args, 8192),
      reason: req.shown.reason,
      rule: req.decision.rule?.id,
      risk: req.risk,
      actor: a.actor,
      session: a.session,
      skill: a.skill,
      labels: a.labels,
      influencedBy: req.shown.influencedBy,
      created: new Date().toISOString(),
    };
    return new Promise<ApprovalAnswer>((resolve) => {
      const done = (answer: ApprovalAnswer): void => {
        if (!this.#waiting.delete(id)) return;
        signal.removeEventListener("abort", onAbort);
        this.#emit({ type: "answered", id, approved: answer.approved, by: answer.by, channel: answer.channel });
        resolve(answer);
      };
      const onAbort = (): void => {
        done({ approved: false, by: "system", channel: "timeout", note: "the request expired or was cancelled" });
      };
      this.#waiting.set(id, { approval, resolve: done });
      signal.addEventListener("abort", onAbort, { once: true });
      this.#emit({ type: "requested", approval });
      if (signal.aborted) onAbort();
    });
  }

  list(): PendingApproval[] {
    return [...this.#waiting.values()].map((w) => w.approval);
  }

  get(id: string): PendingApproval | undefined {
    return this.#waiting.get(id)?.approval;
  }

  /** Answers request `id`; false when there is no such pending request (answered, expired, or never made). */
  answer(id: string, answer: ApprovalAnswer): boolean {
    const w = this.#waiting.get(id);
    if (w === undefined) return false;
    w.resolve(answer);
    return true;
  }

  /** Denies everything pending and every later request (shutdown). */
  close(note: string): void {
    this.#closed = note;
    this.denyAll(note);
  }

  /** Denies everything pending. */
  denyAll(note: string): void {
    for (const w of [...this.#waiting.values()]) w.resolve({ approved: false, by: "system", channel: "shutdown", note });
  }

  subscribe(listener: (e: ApprovalEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(e: ApprovalEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch {
        // A responder's failure must not break the request.
      }
    }
  }
}
