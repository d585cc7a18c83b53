// The ModelDeployment API, defined once: TypeScript types (Static<>), the operator's own validation and
// the CRD's OpenAPI schema with its CEL rules all come from the TypeBox nodes below.
import { Type, type Static } from '@sinclair/typebox';
import type { V1Affinity, V1Condition, V1ObjectMeta, V1ResourceRequirements, V1Toleration, V1TopologySpreadConstraint } from '@kubernetes/client-node';
import { StringEnum, StringMap, upstream } from './upstream.js';
import { GENERATION_DEFAULTS, GENERATION_LIMITS, OPTIMIZATION_LEVELS, type ExecutionProvider } from '../../common/serve-contract.js';
import { QUANTIZE_MODES } from '../../common/optimization-report.js';
import { MODEL_NAME_MAX_LENGTH, MODEL_NAME_PATTERN, MODEL_NAME_RULE } from '../../common/model-name.js';

export const GROUP = 'serving.modelplane.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ModelDeployment';
export const PLURAL = 'modeldeployments';
export const SINGULAR = 'modeldeployment';

export const DEFAULT_GPU_RESOURCE = 'nvidia.com/gpu';
/** The runtime's providers that a ModelDeployment may name. */
export const EXECUTION_PROVIDERS = ['cuda', 'cpu'] as const satisfies readonly ExecutionProvider[];
export const GRAPH_OPTIMIZATION_LEVELS = OPTIMIZATION_LEVELS;

export interface CelRule {
  rule: string;
  message: string;
  /**
   * The reason the API server reports. Not FieldValueDuplicate: with it a real API server (1.28) replaces the rule's
   * message with "Duplicate value", so kubectl would no longer say what render and local mode say.
   */
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired';
  fieldPath?: string;
}

const cel = (...rules: CelRule[]) => ({ 'x-kubernetes-validations': rules });

/** The defaults of an object's fields, as one object: the object's own default, complete as the API server requires. */
function defaultsOf(fields: Record<string, { default?: unknown }>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, f]) => f.default !== undefined).map(([k, f]) => [k, f.default]));
}

// Regular expressions shared by the CEL rules; CEL's matches() is RE2, these use only its common subset.
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const LABEL_VALUE = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';
const REMOTE_URI = '^(https?|s3)://';

const ModelSource = Type.Object(
  {
    uri: Type.String({
      minLength: 1,
      maxLength: 2048,
      description:
        'Where the model is: https://host/path, http://host/path, s3://bucket/key, pvc://<claim>/<path> (read in place from a ' +
        'PersistentVolumeClaim), or file:///absolute/path (local mode). A directory (or an S3 prefix ending in /) holds model.onnx ' +
        'and the files beside it (external data, config.json, tokenizer.json), or model.onnx under onnx/ with config.json and ' +
        'tokenizer.json at its top (a transformers.js repository); a name ending .tar.gz, .tgz, .tar or .zip is an ' +
        'archive, unpacked by the fetch step, with that directory at its top or in a single top-level folder.',
      ...cel({
        rule:
          "self.matches(r'^https?://[^/?#\\s]+[^\\s]*$') || self.matches(r'^s3://[a-z0-9][a-z0-9.-]*[a-z0-9]/[^\\s]+$') || " +
          "self.matches(r'^pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[^\\s]*)?$') || self.matches(r'^file:///[^\\s]+$')",
        message:
          'uri must be https://host/path, http://host/path, s3://bucket/key (a key ending in / names a folder), ' +
          'pvc://<claim>/<path> or file:///<absolute path>',
        reason: 'FieldValueInvalid',
      }),
    }),
    sha256: Type.Optional(
      Type.String({
        maxLength: 64,
        description: 'Expected SHA-256 of the model file, of model.onnx for a folder, or of the archive (64 lower-case hex digits); checked before serving, a mismatch is never served.',
        ...cel({ rule: "self.matches(r'^[0-9a-f]{64}$')", message: 'sha256 must be 64 lower-case hexadecimal digits', reason: 'FieldValueInvalid' }),
      }),
    ),
    credentialsSecret: Type.Optional(
      Type.String({
        maxLength: 253,
        description: 'Secret in the same namespace with S3 keys and endpoint, or an HTTP Authorization header, for downloading the model.',
        ...cel({ rule: `self.matches(r'${DNS_SUBDOMAIN}')`, message: 'credentialsSecret must be a Secret name (a DNS subdomain)', reason: 'FieldValueInvalid' }),
      }),
    ),
    servedName: Type.Optional(
      Type.String({
        maxLength: MODEL_NAME_MAX_LENGTH,
        description: 'Name under /v2/models/{name}; defaults to metadata.name.',
        ...cel({ rule: `self.matches(r'${MODEL_NAME_PATTERN}')`, message: `servedName ${MODEL_NAME_RULE}`, reason: 'FieldValueInvalid' }),
      }),
    ),
  },
  {
    description: 'The ONNX model to serve.',
    ...cel(
      {
        rule: `!has(self.credentialsSecret) || self.uri.matches(r'${REMOTE_URI}')`,
        message: 'credentialsSecret applies only to https, http and s3 URIs',
        reason: 'FieldValueForbidden',
        fieldPath: '.credentialsSecret',
      },
    ),
  },
);

export const AUTOSCALING_MODES = ['builtin', 'hpa', 'keda', 'none'] as const;
export const AUTOSCALING_METRICS = ['concurrency', 'sequences', 'cpu'] as const;
/** spec.autoscaling.scaleToZeroDelaySeconds by default. */
export const DEFAULT_SCALE_TO_ZERO_DELAY_SECONDS = 300;
/** targetSequences by default: three quarters of the default maxNumSeqs, so replicas come before sequences wait. */
export const DEFAULT_TARGET_SEQUENCES = Math.floor(GENERATION_DEFAULTS.maxNumSeqs * 0.75);

const Autoscaling = Type.Object(
  {
    mode: StringEnum(AUTOSCALING_MODES, {
      default: 'builtin',
      maxLength: 16,
      description:
        'Who scales: builtin (the operator scrapes the runtime pods and writes /scale), hpa (an autoscaling/v2 HorizontalPodAutoscaler, ' +
        'needs a metrics adapter for the concurrency metric), keda (a KEDA ScaledObject with a Prometheus trigger) or none (only spec.replicas).',
    }),
    metric: StringEnum(AUTOSCALING_METRICS, {
      default: 'concurrency',
      maxLength: 16,
      description:
        'What to scale on: concurrency (in-flight plus queued requests per replica, against targetConcurrency), sequences ' +
        '(generative models: sequences running or waiting for room per replica, against targetSequences), or cpu (average ' +
        'CPU utilization, mode hpa only).',
    }),
    minReplicas: Type.Integer({
      minimum: 0,
      maximum: 10000,
      default: 1,
      format: 'int32',
      description:
        'Fewest replicas. 0 (mode builtin; refused with hpa and keda) lets the built-in autoscaler remove the last replica ' +
        'after scaleToZeroDelaySeconds without a request; the gateway holds the next request while a replica starts.',
    }),
    maxReplicas: Type.Integer({ minimum: 1, maximum: 10000, format: 'int32', description: 'Most replicas.' }),
    targetConcurrency: Type.Integer({ minimum: 1, maximum: 100000, default: 4, format: 'int32', description: 'With metric concurrency: in-flight plus queued requests per replica to aim for.' }),
    targetSequences: Type.Integer({
      minimum: 1,
      maximum: GENERATION_LIMITS.maxNumSeqs.max,
      default: DEFAULT_TARGET_SEQUENCES,
      format: 'int32',
      description:
        'With metric sequences: sequences per replica, running or waiting for room in the generation engine, to aim for; at ' +
        'most runtime.generation.maxNumSeqs (a replica runs no more at once).',
    }),
    targetCPUUtilizationPercent: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 80,
      format: 'int32',
      description: 'With metric cpu: average CPU utilization, percent of the CPU request, to aim for.',
    }),
    scaleDownDelaySeconds: Type.Integer({ minimum: 0, maximum: 86400, default: 300, format: 'int32', description: 'How long load must stay low before replicas are removed.' }),
    scaleToZeroDelaySeconds: Type.Integer({
      minimum: 0,
      maximum: 86400,
      default: DEFAULT_SCALE_TO_ZERO_DELAY_SECONDS,
      format: 'int32',
      description:
        'With minReplicas 0 (mode builtin): how long no request may arrive, at the gateway or a replica, before the last ' +
        'replica is removed. 0 removes it at the first decision that sees none; the next request then waits for a replica ' +
        'to start and load the model.',
    }),
  },
  {
    description:
      'Autoscaling of the runtime pods through this object\'s scale subresource. Within [minReplicas, maxReplicas] the autoscaler ' +
      'owns spec.replicas: a manual kubectl scale is corrected at its next decision, as with an HPA.',
    ...cel(
      { rule: 'self.minReplicas <= self.maxReplicas', message: 'minReplicas must not exceed maxReplicas', reason: 'FieldValueInvalid', fieldPath: '.minReplicas' },
      { rule: "self.metric != 'cpu' || self.mode == 'hpa'", message: 'metric cpu applies only to mode hpa', reason: 'FieldValueInvalid', fieldPath: '.metric' },
      {
        rule: "self.minReplicas >= 1 || self.mode != 'hpa'",
        message: 'minReplicas 0 needs mode builtin: a HorizontalPodAutoscaler scales to zero only behind the alpha feature gate HPAScaleToZero',
        reason: 'FieldValueInvalid',
        fieldPath: '.minReplicas',
      },
      {
        rule: "self.minReplicas >= 1 || self.mode != 'keda'",
        message:
          "minReplicas 0 needs mode builtin: the ScaledObject's trigger reads the runtime pods, which report nothing at zero " +
          'replicas, so requests held by the gateway would never wake it',
        reason: 'FieldValueInvalid',
        fieldPath: '.minReplicas',
      },
    ),
  },
);

const Gpu = Type.Object(
  {
    count: Type.Integer({ minimum: 1, maximum: 16, default: 1, format: 'int32', description: 'GPUs (or MIG devices) per replica.' }),
    resource: Type.String({
      maxLength: 63,
      default: DEFAULT_GPU_RESOURCE,
      description: 'Extended resource to request: nvidia.com/gpu, or a MIG profile such as nvidia.com/mig-1g.10gb.',
      ...cel({
        rule: "self == 'nvidia.com/gpu' || self.matches(r'^nvidia\\.com/mig-[0-9]+g\\.[0-9]+gb(\\+me)?$')",
        message: 'resource must be nvidia.com/gpu or a MIG profile like nvidia.com/mig-1g.10gb',
        reason: 'FieldValueInvalid',
      }),
    }),
    product: Type.Optional(
      Type.String({
        maxLength: 63,
        description: 'Required value of the node label nvidia.com/gpu.product (e.g. NVIDIA-H100-80GB-HBM3).',
        ...cel({ rule: `self.matches(r'${LABEL_VALUE}')`, message: 'product must be a valid label value', reason: 'FieldValueInvalid' }),
      }),
    ),
  },
  { description: 'GPUs per replica; the pod gets the limit, the matching NoSchedule toleration and, with product, a node selector.' },
);

const Scheduling = Type.Object(
  {
    nodeSelector: Type.Optional(StringMap(Type.String(), { description: 'Merged into the pod nodeSelector.', maxProperties: 64 })),
    tolerations: Type.Optional(Type.Array(upstream<V1Toleration>('io.k8s.api.core.v1.Toleration'), { maxItems: 64, description: 'Added to the pod tolerations.' })),
    affinity: Type.Optional(upstream<V1Affinity>('io.k8s.api.core.v1.Affinity', { description: 'Pod affinity, as in a PodSpec.' })),
    topologySpreadConstraints: Type.Optional(
      Type.Array(upstream<V1TopologySpreadConstraint>('io.k8s.api.core.v1.TopologySpreadConstraint'), { maxItems: 16, description: 'As in a PodSpec.' }),
    ),
    priorityClassName: Type.Optional(
      Type.String({
        maxLength: 253,
        description: 'PriorityClass of the runtime pods.',
        ...cel({ rule: `self.matches(r'${DNS_SUBDOMAIN}')`, message: 'priorityClassName must be a DNS subdomain', reason: 'FieldValueInvalid' }),
      }),
    ),
    runtimeClassName: Type.Optional(
      Type.String({
        maxLength: 253,
        description: 'RuntimeClass of the runtime pods (e.g. nvidia with the GPU Operator).',
        ...cel({ rule: `self.matches(r'${DNS_SUBDOMAIN}')`, message: 'runtimeClassName must be a DNS subdomain', reason: 'FieldValueInvalid' }),
      }),
    ),
  },
  { description: 'Where the runtime pods may run, merged with what spec.gpu implies.' },
);

const Batching = Type.Object(
  {
    maxBatchSize: Type.Integer({
      minimum: 1,
      maximum: 4096,
      format: 'int32',
      description:
        'Most rows (dimension 0) merged from concurrent requests into one run; 1 turns batching off. Only for models whose ' +
        'rows are independent; the runtime refuses to start unless dimension 0 of every input and output is symbolic.',
    }),
    maxQueueDelayMicroseconds: Type.Integer({
      minimum: 0,
      maximum: 1000000,
      default: 1000,
      format: 'int32',
      description: 'Longest a request waits for others to fill a batch.',
    }),
  },
  { description: 'Dynamic batching along the first dimension, as Triton\'s max_batch_size: opt-in, omitted means off (max batch size 1).' },
);

const Generation = Type.Object(
  {
    maxNumSeqs: Type.Integer({
      minimum: GENERATION_LIMITS.maxNumSeqs.min,
      maximum: GENERATION_LIMITS.maxNumSeqs.max,
      default: GENERATION_DEFAULTS.maxNumSeqs,
      format: 'int32',
      description:
        'Most sequences running at once in one replica (prefilling or decoding in one batch, `serve --max-num-seqs`); more ' +
        'wait, up to maxQueueSize, and beyond that the runtime answers 503 with Retry-After.',
    }),
    maxModelLen: Type.Integer({
      minimum: GENERATION_LIMITS.maxModelLen.min,
      maximum: GENERATION_LIMITS.maxModelLen.max,
      default: GENERATION_DEFAULTS.maxModelLen,
      format: 'int32',
      description:
        'Most tokens of one sequence, prompt and completion together (`serve --max-model-len`); a request asking for more is ' +
        "refused with 400. 0 takes the model's context length (config.json max_position_embeddings).",
    }),
    maxKvCacheBytes: Type.Optional(Type.Integer({
      minimum: GENERATION_LIMITS.maxKvCacheBytes.min,
      maximum: GENERATION_LIMITS.maxKvCacheBytes.max,
      format: 'int64',
      description:
        'Budget on the KV cache of the running batch, bytes (`serve --max-kv-cache-bytes`), counted as if every running ' +
        'sequence were padded to the longest and grew to its limit; sequences wait for room, one that could never fit is ' +
        'refused with 400. The cache lives in host memory, so it may not exceed resources.limits.memory (the operator ' +
        'refuses the spec). Default: a quarter of the container memory limit, else of the node memory.',
    })),
  },
  {
    description:
      'Bounds of the generation engine, for generative models (a decoder with its tokenizer; see docs/generation.md). ' +
      'Ignored by other models.',
  },
);

/** Datatypes an inline sample input may have: numbers in `data` (BOOL and BYTES samples come in a file, by uri). */
export const INLINE_SAMPLE_DATATYPES = ['UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64'] as const;
/** Inline samples are rendered into a pod annotation (256 KiB for all of them): these bounds keep them well inside. */
export const INLINE_SAMPLE_MAX_INPUTS = 8;
export const INLINE_SAMPLE_MAX_VALUES = 1024;

const SampleInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 256, description: 'The model input.' }),
    datatype: StringEnum(INLINE_SAMPLE_DATATYPES, { description: 'Its Open Inference Protocol datatype.' }),
    shape: Type.Array(Type.Integer({ minimum: 0, maximum: 2147483647, format: 'int64' }), { maxItems: 16, description: 'Its shape.' }),
    data: Type.Array(Type.Number(), { maxItems: INLINE_SAMPLE_MAX_VALUES, description: 'Its values, flat, row-major.' }),
  },
  { description: 'One input tensor in the Open Inference Protocol JSON form.' },
);

/** Sample requests: what `serve --warmup` and `optimize --samples` read, from a file at a URI or inline in the spec. */
function SampleRequests(what: string) {
  return Type.Object(
    {
      uri: Type.Optional(Type.String({
        maxLength: 2048,
        description:
          'A file of sample requests in the shape of an Open Inference Protocol infer request body (a JSON request, a JSON array ' +
          'of them, or JSON followed by binary tensor data): https://host/path/file, http://..., s3://bucket/key (fetched ' +
          'like the model, with its credentialsSecret, by an init container) or file:///absolute/path (in the image; local mode).',
        ...cel({
          rule:
            "self.matches(r'^https?://[^/?#\\s]+/[^\\s]*[^/\\s]$') || self.matches(r'^s3://[a-z0-9][a-z0-9.-]*[a-z0-9]/[^\\s]*[^/\\s]$') || " +
            "self.matches(r'^file:///[^\\s]*[^/\\s]$')",
          message: 'uri must name a file: https://host/path/file, http://host/path/file, s3://bucket/key or file:///absolute/path',
          reason: 'FieldValueInvalid',
        }),
      })),
      inputs: Type.Optional(Type.Array(SampleInput, {
        minItems: 1,
        maxItems: INLINE_SAMPLE_MAX_INPUTS,
        description:
          `One sample request's inputs, inline (numeric datatypes, at most ${INLINE_SAMPLE_MAX_VALUES} values each; larger ` +
          'samples, and BOOL or BYTES ones, by uri). They reach the pod through an annotation of its template and a downward API volume.',
      })),
    },
    {
      description: what,
      ...cel({ rule: 'has(self.uri) != has(self.inputs)', message: 'give uri or inputs, not both', reason: 'FieldValueInvalid' }),
    },
  );
}

const RuntimeFields = {
    image: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'Runtime image; defaults to the operator configuration.' })),
    executionProviders: Type.Optional(
      Type.Array(StringEnum(EXECUTION_PROVIDERS), {
        minItems: 1,
        maxItems: EXECUTION_PROVIDERS.length,
        description: 'onnxruntime execution providers in order of preference; default [cuda, cpu] with a GPU, else [cpu].',
        ...cel({ rule: 'self.all(p, self.exists_one(q, q == p))', message: 'executionProviders must not repeat a provider', reason: 'FieldValueInvalid' }),
      }),
    ),
    graphOptimizationLevel: StringEnum(GRAPH_OPTIMIZATION_LEVELS, { default: 'all', description: 'onnxruntime graph optimization level.' }),
    intraOpThreads: Type.Integer({ minimum: 0, maximum: 1024, default: 0, format: 'int32', description: 'Threads per operator; 0 derives it from the CPU limit.' }),
    batching: Type.Optional(Batching),
    maxQueueSize: Type.Integer({
      minimum: 1,
      maximum: 1000000,
      default: 512,
      format: 'int32',
      description: 'Requests that may wait per replica; beyond it the runtime answers 503 with Retry-After.',
    }),
    instances: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 1,
      format: 'int32',
      description:
        "Model instances per replica, as Triton's instance_group count: each its own onnxruntime session on its own thread, " +
        'and a batch goes to whichever is idle. With spec.gpu, instances per GPU (one GPU per instance for gpu.count > 1).',
    }),
    generation: Type.Optional(Generation),
    warmup: Type.Optional(SampleRequests(
      "Sample requests every model instance runs before the pod is ready (`serve --warmup`, as Triton's model_warmup); a sample " +
        "that fails stops the pod with ModelLoadFailed and onnxruntime's message. Without them the runtime warms up on generated " +
        'inputs (zeros, symbolic dimensions 1), and a model that refuses those is served all the same, with a warning.',
    )),
};

const Runtime = Type.Object(
  RuntimeFields,
  {
    description: 'How the runtime serves the model.',
    // Present by default so that its own defaults (queue size, optimization level) always apply. The API server
    // validates a default as written, without filling nested defaults first, so this one spells them out.
    default: defaultsOf(RuntimeFields),
    ...cel({
      rule: '!has(self.batching) || self.maxQueueSize >= self.batching.maxBatchSize',
      message: 'maxQueueSize must be at least batching.maxBatchSize, or batches can never fill',
      reason: 'FieldValueInvalid',
      fieldPath: '.maxQueueSize',
    }),
  },
);

export const OPTIMIZATION_QUANTIZE_MODES = QUANTIZE_MODES;
export const OFFLINE_GRAPH_OPTIMIZATION_LEVELS = ['basic', 'extended', 'all'] as const;

const Optimization = Type.Object(
  {
    quantize: Type.Optional(
      StringEnum(OPTIMIZATION_QUANTIZE_MODES, {
        maxLength: 8,
        description:
          'int8: MatMul and Gemm weights to per-channel int8 with dynamic activation quantisation, for CPU execution; ' +
          'fp16: weights and activations to FLOAT16 with FLOAT inputs and outputs, for GPUs (needs spec.gpu).',
      }),
    ),
    graphOptimization: Type.Optional(
      StringEnum(OFFLINE_GRAPH_OPTIMIZATION_LEVELS, { maxLength: 16, description: "onnxruntime's graph optimisation done once, offline, for the pod's execution provider, and saved." }),
    ),
    maxAbsError: Type.Optional(Type.Number({ minimum: 0, description: 'Largest absolute output difference from the original the optimised model may show, on any sample; no limit when absent.' })),
    minCosine: Type.Number({
      minimum: -1,
      maximum: 1,
      default: 0.99,
      description: 'Smallest cosine similarity between original and optimised outputs the optimised model must reach, on every sample.',
    }),
    minSpeedup: Type.Number({
      minimum: 0,
      maximum: 1000,
      default: 1,
      description:
        'Smallest batch-1 speed-up over the original, measured in the pod on its execution provider, the optimised model must ' +
        'reach; below it the original is served (reason SpeedGateFailed). 0 accepts a slower model (for its size alone).',
    }),
    samples: Type.Optional(SampleRequests(
      'Sample requests the gate compares the two models on (`optimize --samples`), instead of generated inputs; default ' +
        'runtime.warmup when that is given.',
    )),
  },
  {
    description:
      'Optimise the model in the pod before serving it: an init container runs `modelplane optimize` after the fetch, ' +
      'compares the optimised model with the original on the samples (else on generated inputs), and the runtime serves the ' +
      'optimised model only when it passed the gate (accuracy on every sample, and speed) and else the original. ' +
      'status.optimization reports the result.',
    ...cel({
      rule: 'has(self.quantize) || has(self.graphOptimization)',
      message: 'optimization needs quantize or graphOptimization',
      reason: 'FieldValueRequired',
    }),
  },
);

export const ModelDeploymentSpecSchema = Type.Object(
  {
    model: ModelSource,
    replicas: Type.Integer({
      minimum: 0,
      maximum: 10000,
      default: 1,
      format: 'int32',
      description: 'Runtime pods; the scale subresource (kubectl scale, HPA, KEDA and the built-in autoscaler) writes here.',
    }),
    autoscaling: Type.Optional(Autoscaling),
    resources: Type.Optional(upstream<V1ResourceRequirements>('io.k8s.api.core.v1.ResourceRequirements', { description: 'CPU and memory of the runtime container.' })),
    gpu: Type.Optional(Gpu),
    scheduling: Type.Optional(Scheduling),
    runtime: Runtime,
    optimization: Type.Optional(Optimization),
  },
  {
    description: 'What to serve and how.',
    ...cel(
      {
        rule: "!has(self.optimization) || !has(self.optimization.quantize) || self.optimization.quantize != 'fp16' || has(self.gpu)",
        message: 'optimization.quantize fp16 needs a GPU (spec.gpu): FLOAT16 kernels are for GPUs',
        reason: 'FieldValueForbidden',
        fieldPath: '.optimization.quantize',
      },
      // Running sequences never exceed maxNumSeqs: a target above it would be met only by sequences that wait.
      {
        rule:
          "!has(self.autoscaling) || self.autoscaling.metric != 'sequences' || self.autoscaling.targetSequences <= " +
          `(has(self.runtime) && has(self.runtime.generation) ? self.runtime.generation.maxNumSeqs : ${GENERATION_DEFAULTS.maxNumSeqs})`,
        message: 'autoscaling.targetSequences must not exceed runtime.generation.maxNumSeqs: a replica runs no more sequences at once',
        reason: 'FieldValueInvalid',
        fieldPath: '.autoscaling.targetSequences',
      },
      // A pod that holds a GPU serves on it or fails; it never quietly computes on CPU.
      {
        rule: "!has(self.gpu) || !has(self.runtime) || !has(self.runtime.executionProviders) || self.runtime.executionProviders.exists(p, p != 'cpu')",
        message: 'with spec.gpu, runtime.executionProviders must include cuda',
        reason: 'FieldValueInvalid',
        fieldPath: '.runtime.executionProviders',
      },
    ),
  },
);

const Condition = upstream<V1Condition>('io.k8s.apimachinery.pkg.apis.meta.v1.Condition');

export const ModelDeploymentStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64', description: 'The metadata.generation this status describes.' })),
    replicas: Type.Optional(Type.Integer({ minimum: 0, format: 'int32', description: 'Runtime pods that exist (statusReplicasPath).' })),
    readyReplicas: Type.Optional(Type.Integer({ minimum: 0, format: 'int32', description: 'Runtime pods that are ready to serve.' })),
    availableReplicas: Type.Optional(Type.Integer({ minimum: 0, format: 'int32', description: 'Runtime pods that have been ready for the Deployment\'s minReadySeconds (what `kubectl get mdp` shows as Available).' })),
    selector: Type.Optional(Type.String({ maxLength: 1024, description: 'Label selector of the runtime pods, serialized (labelSelectorPath).' })),
    url: Type.Optional(Type.String({ maxLength: 2048, description: 'In-cluster URL of the model.' })),
    conditions: Type.Optional(
      Type.Array(Condition, {
        maxItems: 32,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
        description: 'Ready, Available, Progressing, ModelLoaded; each with observedGeneration.',
      }),
    ),
    optimization: Type.Optional(
      Type.Object(
        {
          applied: Type.Boolean({ description: 'Whether the runtime serves the optimised model (it passed the accuracy gate).' }),
          reason: Type.String({ maxLength: 128, description: 'Applied, AccuracyGateFailed, NothingToOptimize, or why the model was refused.' }),
          message: Type.Optional(Type.String({ maxLength: 1024 })),
          quantize: Type.Optional(StringEnum(OPTIMIZATION_QUANTIZE_MODES, { maxLength: 8, description: 'The quantisation the optimised model carries (int8 or fp16), when one was asked for.' })),
          originalBytes: Type.Optional(Type.Integer({ minimum: 0, format: 'int64', description: 'Size of the original model and its external data.' })),
          optimizedBytes: Type.Optional(Type.Integer({ minimum: 0, format: 'int64', description: 'Size of the optimised model and its external data.' })),
          speedup: Type.Optional(Type.Number({ minimum: 0, description: 'Batch-1 latency of the original over the optimised model, measured in the pod.' })),
          maxAbsError: Type.Optional(Type.Number({ minimum: 0, description: 'Largest absolute output difference seen by the gate.' })),
          cosine: Type.Optional(Type.Number({ description: 'Lowest cosine similarity of the outputs seen by the gate.' })),
        },
        { description: 'What the model optimisation step reported, read from its termination message.' },
      ),
    ),
    autoscaler: Type.Optional(
      Type.Object(
        {
          mode: StringEnum(AUTOSCALING_MODES, { description: 'spec.autoscaling.mode in effect.' }),
          averageConcurrency: Type.Optional(Type.Number({ minimum: 0, description: 'Total in-flight plus queued requests over the stable window (builtin, metric concurrency).' })),
          averageSequences: Type.Optional(Type.Number({ minimum: 0, description: 'Total sequences running or waiting over the stable window (builtin, metric sequences).' })),
          desiredReplicas: Type.Optional(Type.Integer({ minimum: 0, format: 'int32', description: 'Replicas the last decision asked for (builtin).' })),
          lastScaleTime: Type.Optional(Type.String({ format: 'date-time', description: 'When the autoscaler last wrote spec.replicas.' })),
          reason: Type.Optional(Type.String({ maxLength: 1024, description: 'Why: the last decision, or what the HPA or ScaledObject is.' })),
          unscrapedSince: Type.Optional(Type.String({ format: 'date-time', description: 'Set while no ready runtime pod\'s metrics could be read for a whole stable window (builtin): since when.' })),
        },
        { description: 'What the autoscaler observes and decides.' },
      ),
    ),
    lastFailure: Type.Optional(
      Type.Object(
        {
          reason: Type.String({ maxLength: 1024 }),
          message: Type.String({ maxLength: 32768 }),
          time: Type.String({ format: 'date-time' }),
        },
        { description: 'The most recent failure seen, kept after recovery.' },
      ),
    ),
  },
  { description: 'What the operator observes.' },
);

export type ModelDeploymentSpec = Static<typeof ModelDeploymentSpecSchema>;
export type ModelDeploymentStatus = Static<typeof ModelDeploymentStatusSchema>;
export type ModelDeploymentCondition = V1Condition;

export interface ModelDeployment {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: V1ObjectMeta;
  spec: ModelDeploymentSpec;
  status?: ModelDeploymentStatus;
}

/** The whole object as the CRD sees it; metadata stays untouched (`type: object`), as Kubernetes requires. */
export const ModelDeploymentSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.String({ description: 'APIVersion defines the versioned schema of this representation of an object.' })),
    kind: Type.Optional(Type.String({ description: 'Kind is a string value representing the REST resource this object represents.' })),
    metadata: Type.Optional(Type.Object({})),
    spec: ModelDeploymentSpecSchema,
    status: Type.Optional(ModelDeploymentStatusSchema),
  },
  { description: 'ModelDeployment serves one ONNX model over the Open Inference Protocol on GPU-scheduled runtime pods.' },
);

