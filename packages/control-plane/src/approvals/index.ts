export {
  type ApprovalListFilter,
  Approvals,
  type ApprovalsOptions,
  type ApprovalsStats,
} from './approvals';
export {
  type ApprovalsConfig,
  type ApprovalsWebhookConfig,
  approvalsWebhook,
  readApprovalsConfig,
} from './config';
export { APPROVALS_CHANNEL } from './store-postgres';
export {
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  verifyWebhook,
  type WebhookPayload,
  type WebhookTarget,
  webhookSignature,
} from './webhook';
