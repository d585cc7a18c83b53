#!/usr/bin/env bash
# End-to-end check on a real Kubernetes cluster (kind): build the images, install the Helm chart, deploy the
# CPU example, wait for Ready, run an inference and scale through the scale subresource.
#
# Needs: docker, kind, kubectl, helm (v3.8+ or v4), node 20, curl; run from a checkout after `npm ci`.
#   scripts/e2e-kind.sh                      # creates the cluster "modelplane-e2e" and deletes it afterwards
#   KEEP_CLUSTER=1 scripts/e2e-kind.sh       # leaves it running for a look around
#   KIND_CLUSTER=dev scripts/e2e-kind.sh     # uses (or creates) another cluster name
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER="${KIND_CLUSTER:-modelplane-e2e}"
TAG="${IMAGE_TAG:-e2e-$(date +%s)}"
SYSTEM_NS="${SYSTEM_NAMESPACE:-modelplane-system}"
NS="${E2E_NAMESPACE:-modelplane-e2e}"
LOCAL_PORT="${LOCAL_PORT:-18080}"
TIMEOUT="${READY_TIMEOUT:-300s}"

log() { printf '{"time":"%s","component":"e2e","message":"%s"}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

for tool in docker kind kubectl helm node curl; do
  command -v "$tool" >/dev/null || { log "missing required tool: $tool"; exit 2; }
done

created_cluster=0
port_forward_pid=""
cleanup() {
  status=$?
  [ -n "$port_forward_pid" ] && kill "$port_forward_pid" 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    log "failed (exit $status); diagnostics follow"
    kubectl get mdp,deploy,pods,svc,pdb -n "$NS" -o wide || true
    kubectl describe mdp -n "$NS" || true
    kubectl get events -n "$NS" --sort-by=.lastTimestamp | tail -n 40 || true
    kubectl logs -n "$NS" -l app.kubernetes.io/name=modelplane-runtime --all-containers --tail=100 || true
    kubectl logs -n "$SYSTEM_NS" -l app.kubernetes.io/component=operator --tail=200 || true
  fi
  if [ "$created_cluster" -eq 1 ] && [ -z "${KEEP_CLUSTER:-}" ]; then
    log "deleting cluster $CLUSTER"
    kind delete cluster --name "$CLUSTER" || true
  fi
  exit "$status"
}
trap cleanup EXIT

if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  log "creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --wait 120s
  created_cluster=1
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

log "building images with tag $TAG"
docker build --target operator -t "modelplane/operator:$TAG" .
docker build --target runtime -t "modelplane/runtime:$TAG" .
kind load docker-image --name "$CLUSTER" "modelplane/operator:$TAG" "modelplane/runtime:$TAG"

log "installing the chart"
helm upgrade --install modelplane charts/modelplane \
  --namespace "$SYSTEM_NS" --create-namespace \
  --set operator.image.repository=modelplane/operator --set operator.image.tag="$TAG" \
  --set runtime.image.repository=modelplane/runtime --set runtime.image.tag="$TAG" \
  --set runtime.gpuImage.repository=modelplane/runtime --set runtime.gpuImage.tag="$TAG" \
  --set operator.logLevel=debug \
  --wait --timeout 180s
kubectl get crd modeldeployments.serving.modelplane.io >/dev/null

log "starting the example model store"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
[ -f examples/models/simple.onnx ] || node dist/examples/build-models.js
kubectl create configmap example-models -n "$NS" --from-file=examples/models/ --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -n "$NS" -f examples/model-store.yaml
kubectl rollout status -n "$NS" deployment/model-store --timeout=120s

log "applying examples/cpu.yaml"
kubectl apply -n "$NS" -f examples/cpu.yaml
kubectl get mdp -n "$NS"
kubectl wait -n "$NS" --for=condition=Ready mdp/simple-cpu --timeout="$TIMEOUT"
kubectl get mdp -n "$NS" -o wide

log "running an inference"
kubectl port-forward -n "$NS" svc/simple-cpu "$LOCAL_PORT:8080" >/dev/null 2>&1 &
port_forward_pid=$!
for _ in $(seq 1 30); do
  curl -sf "http://127.0.0.1:$LOCAL_PORT/v2/health/ready" >/dev/null && break
  sleep 1
done
body='{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,16],"data":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]},{"name":"INPUT1","datatype":"FP32","shape":[1,16],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]}'
response="$(curl -sf "http://127.0.0.1:$LOCAL_PORT/v2/models/simple/infer" -H 'Content-Type: application/json' -d "$body")"
echo "$response"
RESPONSE="$response" node -e '
  const r = JSON.parse(process.env.RESPONSE);
  const out = Object.fromEntries(r.outputs.map((o) => [o.name, o.data]));
  const sum = Array.from({ length: 16 }, (_, i) => i + 2);
  const diff = Array.from({ length: 16 }, (_, i) => i);
  if (JSON.stringify(out.OUTPUT0) !== JSON.stringify(sum) || JSON.stringify(out.OUTPUT1) !== JSON.stringify(diff)) {
    console.error("unexpected inference result"); process.exit(1);
  }'

log "scaling through the scale subresource"
kubectl scale -n "$NS" mdp/simple-cpu --replicas=2
kubectl wait -n "$NS" --for=jsonpath='{.status.readyReplicas}'=2 mdp/simple-cpu --timeout="$TIMEOUT"
kubectl get pdb -n "$NS" simple-cpu

log "deleting the ModelDeployment collects its children"
kubectl delete -n "$NS" mdp/simple-cpu --wait=true
kubectl wait -n "$NS" --for=delete deployment/simple-cpu --timeout=120s

log "passed"
