import { Global, Module } from '@nestjs/common';
import { AdaptersModule } from '../adapters/adapters.module.js';
import { AuditModule } from '../audit/audit.module.js';
import { UnlearningModule } from '../unlearning/unlearning.module.js';
import { AdapterStore } from './adapter-store.service.js';
import { AdapterTransferController } from './adapter-transfer.controller.js';
import { AdapterTransferService } from './adapter-transfer.service.js';
import { ChatCompletionsController } from './chat-completions.controller.js';
import { ChatCompletionsService } from './chat-completions.service.js';
import { CompletionsController } from './completions.controller.js';
import { CompletionsService } from './completions.service.js';
import { DetectorGateProvider } from './detector-gates.service.js';
import { InferenceMetrics } from './inference-metrics.js';
import { ModelHost } from './model-host.service.js';
import { RoutingDecisionRepository } from './routing-decision.repository.js';
import { RoutingDecisionsController } from './routing-decisions.controller.js';
import { GATE_SCORE_PROVIDER, RoutingService } from './routing.service.js';

/**
 * Inference (issue 5): model host with worker threads and micro-batching, OpenAI-compatible
 * completions, chat completions (issue 14) and models, routing, adapter cache following the registry, routing decisions.
 * Global so health checks can ask ModelHost whether the model is loaded.
 */
@Global()
@Module({
  imports: [AdaptersModule, AuditModule, UnlearningModule],
  controllers: [CompletionsController, ChatCompletionsController, RoutingDecisionsController, AdapterTransferController],
  providers: [AdapterStore, ModelHost, RoutingService, RoutingDecisionRepository, InferenceMetrics, CompletionsService, ChatCompletionsService, AdapterTransferService, DetectorGateProvider, { provide: GATE_SCORE_PROVIDER, useExisting: DetectorGateProvider }],
  exports: [ModelHost, AdapterStore, RoutingService],
})
export class InferenceModule {}
