import { Inject, Injectable } from '@nestjs/common';
import { DomainError, ErrorCode } from '../common/domain-error.js';
import { checkHead, GENESIS_HASH, verifyChain, type ChainedAuditEvent, type ChainVerdict } from './audit-chain.js';
import { headSignatureValid, signHead, type SignedChainHead } from './audit-head.js';
import { AuditSigningKey } from './audit-signing-key.service.js';
import { AuditRepository } from './audit.repository.js';

/**
 * Anchors the audit chain outside the table: a signed head an auditor records, and verification
 * that the chain still reaches a recorded head (deleting the newest events is invisible to the
 * chain alone, since nothing after them links to them).
 */
@Injectable()
export class AuditAnchorService {
  constructor(
    @Inject(AuditRepository) private readonly repo: AuditRepository,
    @Inject(AuditSigningKey) private readonly signingKey: AuditSigningKey,
  ) {}

  /** The newest event's seq and hash (seq 0 and the genesis hash for an empty chain), signed with the server key. */
  async head(): Promise<SignedChainHead> {
    const last = await this.repo.last();
    return signHead(await this.signingKey.get(), last ?? { seq: 0, hash: GENESIS_HASH }, new Date());
  }

  /**
   * Recomputes the whole chain from the stored columns; with a `head` recorded from {@link head},
   * also checks that the chain still reaches it. A head whose signature is not the server's is
   * refused (AUDIT_HEAD_SIGNATURE_INVALID) before anything is read.
   */
  async verify(head?: SignedChainHead): Promise<ChainVerdict> {
    if (head && !headSignatureValid(await this.signingKey.get(), head)) {
      throw new DomainError(ErrorCode.AUDIT_HEAD_SIGNATURE_INVALID, 'the head signature does not verify: it was not issued by this server, or seq, hash or signedAt changed', {
        field: 'signature',
      });
    }
    const events: ChainedAuditEvent[] = [];
    for await (const page of this.repo.all()) events.push(...page);
    const verdict = verifyChain(events);
    return head && verdict.valid ? checkHead(events, head) : verdict;
  }
}
