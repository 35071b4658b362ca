import { Foundation1795909606906 } from './1795909606906-Foundation.js';
import { JobProgress1795909651326 } from './1795909651326-JobProgress.js';
import { RoutingDecision1795910000000 } from './1795910000000-RoutingDecision.js';
import { Unlearning1795930000000 } from './1795930000000-Unlearning.js';
import { TasksGenerator1795940000000 } from './1795940000000-TasksGenerator.js';
import { ReliabilitySecurity1796000000000 } from './1796000000000-ReliabilitySecurity.js';
import { JobHeartbeat1796010000000 } from './1796010000000-JobHeartbeat.js';
import { UnlearningReview1796020000000 } from './1796020000000-UnlearningReview.js';
import { RoutingDecisionEndpoint1796031400000 } from './1796031400000-RoutingDecisionEndpoint.js';
import { ComposeGenerator1796426396883 } from './1796426396883-ComposeGenerator.js';

/**
 * Every migration, oldest first. Listed explicitly (no glob) so the same list works from
 * compiled JS, from vitest and from tsx scripts. Add new migrations at the end; never edit one
 * that has landed.
 */
export const MIGRATIONS = [
  Foundation1795909606906,
  JobProgress1795909651326,
  RoutingDecision1795910000000,
  Unlearning1795930000000,
  TasksGenerator1795940000000,
  ReliabilitySecurity1796000000000,
  JobHeartbeat1796010000000,
  UnlearningReview1796020000000,
  RoutingDecisionEndpoint1796031400000,
  ComposeGenerator1796426396883,
];
