//! kustomize's transformer configuration: which fields each builtin
//! transformer touches (its builtin defaults, written in kustomize's own
//! format), extendable by a kustomization's `configurations` files.

use std::sync::OnceLock;

use serde::Deserialize;

use super::FieldSpec;
use crate::resource::Gvk;
use crate::yaml::parse_documents;

/// "Objects of `gvk` are referred to by name from these fields."
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameBackReference {
    /// API group of the referred-to kind.
    #[serde(default)]
    pub group: String,
    /// API version of the referred-to kind.
    #[serde(default)]
    pub version: String,
    /// The referred-to kind.
    #[serde(default)]
    pub kind: String,
    /// The referring fields.
    #[serde(default)]
    pub field_specs: Vec<FieldSpec>,
}

impl NameBackReference {
    /// The referred-to gvk.
    pub fn gvk(&self) -> Gvk {
        Gvk {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
        }
    }
}

/// Field specs per builtin transformer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransformerConfig {
    /// Fields `namePrefix` changes.
    #[serde(default)]
    pub name_prefix: Vec<FieldSpec>,
    /// Fields `nameSuffix` changes.
    #[serde(default)]
    pub name_suffix: Vec<FieldSpec>,
    /// Fields `namespace` sets.
    #[serde(default)]
    pub namespace: Vec<FieldSpec>,
    /// Fields `commonLabels` (and `labels.includeSelectors`) set.
    #[serde(default)]
    pub common_labels: Vec<FieldSpec>,
    /// Template label fields (`labels.includeTemplates`).
    #[serde(default)]
    pub template_labels: Vec<FieldSpec>,
    /// Fields `commonAnnotations` sets.
    #[serde(default)]
    pub common_annotations: Vec<FieldSpec>,
    /// Name references.
    #[serde(default)]
    pub name_reference: Vec<NameBackReference>,
    /// Fields where `$(VAR)` is expanded.
    #[serde(default)]
    pub var_reference: Vec<FieldSpec>,
    /// Image fields.
    #[serde(default)]
    pub images: Vec<FieldSpec>,
    /// Replica count fields.
    #[serde(default)]
    pub replicas: Vec<FieldSpec>,
}

fn merge_specs(into: &mut Vec<FieldSpec>, more: Vec<FieldSpec>) {
    for fs in more {
        if !into
            .iter()
            .any(|e| e.gvk() == fs.gvk() && e.path == fs.path)
        {
            into.push(fs);
        }
    }
}

impl TransformerConfig {
    /// kustomize's builtin configuration.
    pub fn builtin() -> &'static TransformerConfig {
        static CONFIG: OnceLock<TransformerConfig> = OnceLock::new();
        CONFIG.get_or_init(|| {
            let mut config = TransformerConfig::default();
            for text in [
                NAME_PREFIX,
                NAMESPACE,
                COMMON_LABELS,
                TEMPLATE_LABELS,
                COMMON_ANNOTATIONS,
                NAME_REFERENCE,
                VAR_REFERENCE,
                IMAGES,
                REPLICAS,
            ] {
                let part = Self::parse_builtin(text).expect("builtin transformer config is valid");
                config.merge(part);
            }
            config.name_suffix = config.name_prefix.clone();
            config
        })
    }

    /// Parses a configuration file (kustomize's `configurations` format).
    pub fn parse(text: &str) -> Result<TransformerConfig, String> {
        let docs = parse_documents(text).map_err(|e| e.to_string())?;
        match docs.into_iter().next() {
            None => Ok(TransformerConfig::default()),
            Some(doc) => serde_json::from_value(doc).map_err(|e| e.to_string()),
        }
    }

    /// Adds `other`'s specs (duplicates dropped; name references to the same
    /// kind are combined).
    pub fn merge(&mut self, other: TransformerConfig) {
        merge_specs(&mut self.name_prefix, other.name_prefix);
        merge_specs(&mut self.name_suffix, other.name_suffix);
        merge_specs(&mut self.namespace, other.namespace);
        merge_specs(&mut self.common_labels, other.common_labels);
        merge_specs(&mut self.template_labels, other.template_labels);
        merge_specs(&mut self.common_annotations, other.common_annotations);
        merge_specs(&mut self.var_reference, other.var_reference);
        merge_specs(&mut self.images, other.images);
        merge_specs(&mut self.replicas, other.replicas);
        for br in other.name_reference {
            match self.name_reference.iter_mut().find(|e| e.gvk() == br.gvk()) {
                Some(existing) => merge_specs(&mut existing.field_specs, br.field_specs),
                None => self.name_reference.push(br),
            }
        }
    }
}

const NAME_PREFIX: &str = "
namePrefix:
- path: metadata/name
";

const NAMESPACE: &str = "
namespace:
- path: metadata/namespace
  create: true
- path: metadata/name
  kind: Namespace
  create: true
- path: subjects
  kind: RoleBinding
- path: subjects
  kind: ClusterRoleBinding
- path: spec/service/namespace
  group: apiregistration.k8s.io
  kind: APIService
  create: true
- path: spec/conversion/webhook/clientConfig/service/namespace
  group: apiextensions.k8s.io
  kind: CustomResourceDefinition
";

const TEMPLATE_LABELS: &str = concat!(
    "templateLabels:",
    "
- path: metadata/labels
  create: true
- path: spec/template/metadata/labels
  create: true
  version: v1
  kind: ReplicationController
- path: spec/template/metadata/labels
  create: true
  kind: Deployment
- path: spec/template/metadata/labels
  create: true
  kind: ReplicaSet
- path: spec/template/metadata/labels
  create: true
  kind: DaemonSet
- path: spec/template/metadata/labels
  create: true
  group: apps
  kind: StatefulSet
- path: spec/volumeClaimTemplates[]/metadata/labels
  create: true
  group: apps
  kind: StatefulSet
- path: spec/template/metadata/labels
  create: true
  group: batch
  kind: Job
- path: spec/jobTemplate/metadata/labels
  create: true
  group: batch
  kind: CronJob
- path: spec/jobTemplate/spec/template/metadata/labels
  create: true
  group: batch
  kind: CronJob
"
);

const COMMON_LABELS: &str = concat!(
    "
commonLabels:
- path: spec/selector
  create: true
  version: v1
  kind: Service
- path: spec/selector
  create: true
  version: v1
  kind: ReplicationController
- path: spec/selector/matchLabels
  create: true
  kind: Deployment
- path: spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels
  group: apps
  kind: Deployment
- path: spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels
  group: apps
  kind: Deployment
- path: spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels
  group: apps
  kind: Deployment
- path: spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels
  group: apps
  kind: Deployment
- path: spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels
  group: apps
  kind: Deployment
- path: spec/selector/matchLabels
  create: true
  kind: ReplicaSet
- path: spec/selector/matchLabels
  create: true
  kind: DaemonSet
- path: spec/selector/matchLabels
  create: true
  group: apps
  kind: StatefulSet
- path: spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels
  group: apps
  kind: StatefulSet
- path: spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels
  group: apps
  kind: StatefulSet
- path: spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels
  group: apps
  kind: StatefulSet
- path: spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels
  group: apps
  kind: StatefulSet
- path: spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels
  group: apps
  kind: StatefulSet
- path: spec/selector/matchLabels
  group: batch
  kind: Job
- path: spec/jobTemplate/spec/selector/matchLabels
  group: batch
  kind: CronJob
- path: spec/selector/matchLabels
  group: policy
  kind: PodDisruptionBudget
- path: spec/podSelector/matchLabels
  group: networking.k8s.io
  kind: NetworkPolicy
- path: spec/ingress/from/podSelector/matchLabels
  group: networking.k8s.io
  kind: NetworkPolicy
- path: spec/egress/to/podSelector/matchLabels
  group: networking.k8s.io
  kind: NetworkPolicy",
    "
- path: metadata/labels
  create: true
- path: spec/template/metadata/labels
  create: true
  version: v1
  kind: ReplicationController
- path: spec/template/metadata/labels
  create: true
  kind: Deployment
- path: spec/template/metadata/labels
  create: true
  kind: ReplicaSet
- path: spec/template/metadata/labels
  create: true
  kind: DaemonSet
- path: spec/template/metadata/labels
  create: true
  group: apps
  kind: StatefulSet
- path: spec/volumeClaimTemplates[]/metadata/labels
  create: true
  group: apps
  kind: StatefulSet
- path: spec/template/metadata/labels
  create: true
  group: batch
  kind: Job
- path: spec/jobTemplate/metadata/labels
  create: true
  group: batch
  kind: CronJob
- path: spec/jobTemplate/spec/template/metadata/labels
  create: true
  group: batch
  kind: CronJob
"
);

const COMMON_ANNOTATIONS: &str = "
commonAnnotations:
- path: metadata/annotations
  create: true
- path: spec/template/metadata/annotations
  create: true
  version: v1
  kind: ReplicationController
- path: spec/template/metadata/annotations
  create: true
  kind: Deployment
- path: spec/template/metadata/annotations
  create: true
  kind: ReplicaSet
- path: spec/template/metadata/annotations
  create: true
  kind: DaemonSet
- path: spec/template/metadata/annotations
  create: true
  kind: StatefulSet
- path: spec/template/metadata/annotations
  create: true
  group: batch
  kind: Job
- path: spec/jobTemplate/metadata/annotations
  create: true
  group: batch
  kind: CronJob
- path: spec/jobTemplate/spec/template/metadata/annotations
  create: true
  group: batch
  kind: CronJob
";

const IMAGES: &str = "
images:
- path: spec/containers[]/image
  create: true
- path: spec/initContainers[]/image
  create: true
- path: spec/volumes[]/image/reference
  create: true
- path: spec/template/spec/containers[]/image
  create: true
- path: spec/template/spec/initContainers[]/image
  create: true
- path: spec/template/spec/volumes[]/image/reference
  create: true
";

const REPLICAS: &str = "
replicas:
- path: spec/replicas
  create: true
  kind: Deployment
- path: spec/replicas
  create: true
  kind: ReplicationController
- path: spec/replicas
  create: true
  kind: ReplicaSet
- path: spec/replicas
  create: true
  kind: StatefulSet
";

const VAR_REFERENCE: &str = "
varReference:
- {path: spec/jobTemplate/spec/template/spec/containers/args, kind: CronJob}
- {path: spec/jobTemplate/spec/template/spec/containers/command, kind: CronJob}
- {path: spec/jobTemplate/spec/template/spec/containers/env/value, kind: CronJob}
- {path: spec/jobTemplate/spec/template/spec/containers/volumeMounts/mountPath, kind: CronJob}
- {path: spec/jobTemplate/spec/template/spec/initContainers/args, kind: CronJob}
- {path: spec/jobTemplate/spec/template/spec/initContainers/command, kind: CronJob}
- {path: spec/jobTemplate/spec/template/spec/initContainers/env/value, kind: CronJob}
- {path: spec/jobTemplate/spec/template/spec/initContainers/volumeMounts/mountPath, kind: CronJob}
- {path: spec/jobTemplate/spec/template/spec/volumes/nfs/server, kind: CronJob}
- {path: spec/template/spec/containers/args, kind: DaemonSet}
- {path: spec/template/spec/containers/command, kind: DaemonSet}
- {path: spec/template/spec/containers/env/value, kind: DaemonSet}
- {path: spec/template/spec/containers/volumeMounts/mountPath, kind: DaemonSet}
- {path: spec/template/spec/initContainers/args, kind: DaemonSet}
- {path: spec/template/spec/initContainers/command, kind: DaemonSet}
- {path: spec/template/spec/initContainers/env/value, kind: DaemonSet}
- {path: spec/template/spec/initContainers/volumeMounts/mountPath, kind: DaemonSet}
- {path: spec/template/spec/volumes/nfs/server, kind: DaemonSet}
- {path: spec/template/spec/containers/args, kind: Deployment}
- {path: spec/template/spec/containers/command, kind: Deployment}
- {path: spec/template/spec/containers/env/value, kind: Deployment}
- {path: spec/template/spec/containers/volumeMounts/mountPath, kind: Deployment}
- {path: spec/template/spec/initContainers/args, kind: Deployment}
- {path: spec/template/spec/initContainers/command, kind: Deployment}
- {path: spec/template/spec/initContainers/env/value, kind: Deployment}
- {path: spec/template/spec/initContainers/volumeMounts/mountPath, kind: Deployment}
- {path: spec/template/spec/volumes/nfs/server, kind: Deployment}
- {path: spec/rules/host, kind: Ingress}
- {path: spec/tls/hosts, kind: Ingress}
- {path: spec/tls/secretName, kind: Ingress}
- {path: spec/template/spec/containers/args, kind: Job}
- {path: spec/template/spec/containers/command, kind: Job}
- {path: spec/template/spec/containers/env/value, kind: Job}
- {path: spec/template/spec/containers/volumeMounts/mountPath, kind: Job}
- {path: spec/template/spec/initContainers/args, kind: Job}
- {path: spec/template/spec/initContainers/command, kind: Job}
- {path: spec/template/spec/initContainers/env/value, kind: Job}
- {path: spec/template/spec/initContainers/volumeMounts/mountPath, kind: Job}
- {path: spec/template/spec/volumes/nfs/server, kind: Job}
- {path: spec/containers/args, kind: Pod}
- {path: spec/containers/command, kind: Pod}
- {path: spec/containers/env/value, kind: Pod}
- {path: spec/containers/volumeMounts/mountPath, kind: Pod}
- {path: spec/initContainers/args, kind: Pod}
- {path: spec/initContainers/command, kind: Pod}
- {path: spec/initContainers/env/value, kind: Pod}
- {path: spec/initContainers/volumeMounts/mountPath, kind: Pod}
- {path: spec/volumes/nfs/server, kind: Pod}
- {path: spec/template/spec/containers/args, kind: ReplicaSet}
- {path: spec/template/spec/containers/command, kind: ReplicaSet}
- {path: spec/template/spec/containers/env/value, kind: ReplicaSet}
- {path: spec/template/spec/containers/volumeMounts/mountPath, kind: ReplicaSet}
- {path: spec/template/spec/initContainers/args, kind: ReplicaSet}
- {path: spec/template/spec/initContainers/command, kind: ReplicaSet}
- {path: spec/template/spec/initContainers/env/value, kind: ReplicaSet}
- {path: spec/template/spec/initContainers/volumeMounts/mountPath, kind: ReplicaSet}
- {path: spec/template/spec/volumes/nfs/server, kind: ReplicaSet}
- {path: spec/ports/port, kind: Service}
- {path: spec/ports/targetPort, kind: Service}
- {path: spec/template/spec/containers/args, kind: StatefulSet}
- {path: spec/template/spec/containers/command, kind: StatefulSet}
- {path: spec/template/spec/containers/env/value, kind: StatefulSet}
- {path: spec/template/spec/containers/volumeMounts/mountPath, kind: StatefulSet}
- {path: spec/template/spec/initContainers/args, kind: StatefulSet}
- {path: spec/template/spec/initContainers/command, kind: StatefulSet}
- {path: spec/template/spec/initContainers/env/value, kind: StatefulSet}
- {path: spec/template/spec/initContainers/volumeMounts/mountPath, kind: StatefulSet}
- {path: spec/volumeClaimTemplates/spec/nfs/server, kind: StatefulSet}
- {path: spec/nfs/server, kind: PersistentVolume}
- {path: metadata/labels}
- {path: metadata/annotations}
";

const POD_CONFIGMAP_REFS: [&str; 6] = [
    "volumes/configMap/name",
    "containers/env/valueFrom/configMapKeyRef/name",
    "initContainers/env/valueFrom/configMapKeyRef/name",
    "containers/envFrom/configMapRef/name",
    "initContainers/envFrom/configMapRef/name",
    "volumes/projected/sources/configMap/name",
];

const POD_SECRET_REFS: [&str; 7] = [
    "volumes/secret/secretName",
    "containers/env/valueFrom/secretKeyRef/name",
    "initContainers/env/valueFrom/secretKeyRef/name",
    "containers/envFrom/secretRef/name",
    "initContainers/envFrom/secretRef/name",
    "imagePullSecrets/name",
    "volumes/projected/sources/secret/name",
];

/// Where each workload kind keeps its pod spec, for the generated part of
/// the name-reference table.
const POD_SPEC_HOLDERS: [(&str, &str, &str); 8] = [
    ("Pod", "v1", "spec/"),
    ("PodTemplate", "", "template/spec/"),
    ("Deployment", "", "spec/template/spec/"),
    ("ReplicaSet", "", "spec/template/spec/"),
    ("DaemonSet", "", "spec/template/spec/"),
    ("StatefulSet", "", "spec/template/spec/"),
    ("Job", "", "spec/template/spec/"),
    ("CronJob", "", "spec/jobTemplate/spec/template/spec/"),
];

fn pod_refs(refs: &[&str]) -> String {
    let mut out = String::new();
    for (kind, version, prefix) in POD_SPEC_HOLDERS {
        for r in refs {
            out.push_str(&format!("  - path: {prefix}{r}\n    kind: {kind}\n"));
            if !version.is_empty() {
                out.push_str(&format!("    version: {version}\n"));
            }
        }
    }
    out
}

static NAME_REFERENCE_TEXT: OnceLock<String> = OnceLock::new();

const NAME_REFERENCE: &str = "@name-reference@";

impl TransformerConfig {
    fn parse_builtin(text: &str) -> Result<TransformerConfig, String> {
        if text == NAME_REFERENCE {
            Self::parse(NAME_REFERENCE_TEXT.get_or_init(name_reference_text))
        } else {
            Self::parse(text)
        }
    }
}

fn name_reference_text() -> String {
    format!(
        "nameReference:
- kind: Deployment
  fieldSpecs:
  - {{path: spec/scaleTargetRef/name, kind: HorizontalPodAutoscaler}}
- kind: ReplicationController
  fieldSpecs:
  - {{path: spec/scaleTargetRef/name, kind: HorizontalPodAutoscaler}}
- kind: ReplicaSet
  fieldSpecs:
  - {{path: spec/scaleTargetRef/name, kind: HorizontalPodAutoscaler}}
- kind: StatefulSet
  fieldSpecs:
  - {{path: spec/scaleTargetRef/name, kind: HorizontalPodAutoscaler}}
- kind: ConfigMap
  version: v1
  fieldSpecs:
{cm}  - {{path: spec/configSource/configMap, kind: Node}}
  - {{path: rules/resourceNames, kind: Role}}
  - {{path: rules/resourceNames, kind: ClusterRole}}
  - {{path: metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap, kind: Ingress}}
- kind: Secret
  version: v1
  fieldSpecs:
{secret}  - {{path: spec/tls/secretName, kind: Ingress}}
  - {{path: metadata/annotations/ingress.kubernetes.io\\/auth-secret, kind: Ingress}}
  - {{path: metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret, kind: Ingress}}
  - {{path: metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret, kind: Ingress}}
  - {{path: imagePullSecrets/name, kind: ServiceAccount}}
  - {{path: parameters/secretName, kind: StorageClass}}
  - {{path: parameters/adminSecretName, kind: StorageClass}}
  - {{path: parameters/userSecretName, kind: StorageClass}}
  - {{path: parameters/secretRef, kind: StorageClass}}
  - {{path: rules/resourceNames, kind: Role}}
  - {{path: rules/resourceNames, kind: ClusterRole}}
  - {{path: spec/template/spec/containers/env/valueFrom/secretKeyRef/name, kind: Service, group: serving.knative.dev, version: v1}}
  - {{path: spec/azureFile/secretName, kind: PersistentVolume}}
- kind: Service
  version: v1
  fieldSpecs:
  - {{path: spec/serviceName, kind: StatefulSet, group: apps}}
  - {{path: spec/rules/http/paths/backend/serviceName, kind: Ingress}}
  - {{path: spec/backend/serviceName, kind: Ingress}}
  - {{path: spec/rules/http/paths/backend/service/name, kind: Ingress}}
  - {{path: spec/defaultBackend/service/name, kind: Ingress}}
  - {{path: spec/service/name, kind: APIService, group: apiregistration.k8s.io}}
  - {{path: webhooks/clientConfig/service, kind: ValidatingWebhookConfiguration, group: admissionregistration.k8s.io}}
  - {{path: webhooks/clientConfig/service, kind: MutatingWebhookConfiguration, group: admissionregistration.k8s.io}}
  - {{path: spec/rules/backendRefs/name, kind: HTTPRoute}}
- kind: Role
  group: rbac.authorization.k8s.io
  fieldSpecs:
  - {{path: roleRef/name, kind: RoleBinding, group: rbac.authorization.k8s.io}}
- kind: ClusterRole
  group: rbac.authorization.k8s.io
  fieldSpecs:
  - {{path: roleRef/name, kind: RoleBinding, group: rbac.authorization.k8s.io}}
  - {{path: roleRef/name, kind: ClusterRoleBinding, group: rbac.authorization.k8s.io}}
- kind: ServiceAccount
  version: v1
  fieldSpecs:
  - {{path: subjects, kind: RoleBinding, group: rbac.authorization.k8s.io}}
  - {{path: subjects, kind: ClusterRoleBinding, group: rbac.authorization.k8s.io}}
  - {{path: spec/serviceAccountName, kind: Pod}}
  - {{path: spec/template/spec/serviceAccountName, kind: StatefulSet}}
  - {{path: spec/template/spec/serviceAccountName, kind: Deployment}}
  - {{path: spec/template/spec/serviceAccountName, kind: ReplicationController}}
  - {{path: spec/jobTemplate/spec/template/spec/serviceAccountName, kind: CronJob}}
  - {{path: spec/template/spec/serviceAccountName, kind: Job}}
  - {{path: spec/template/spec/serviceAccountName, kind: DaemonSet}}
- kind: PersistentVolumeClaim
  version: v1
  fieldSpecs:
  - {{path: spec/volumes/persistentVolumeClaim/claimName, kind: Pod}}
  - {{path: spec/template/spec/volumes/persistentVolumeClaim/claimName, kind: StatefulSet}}
  - {{path: spec/template/spec/volumes/persistentVolumeClaim/claimName, kind: Deployment}}
  - {{path: spec/template/spec/volumes/persistentVolumeClaim/claimName, kind: ReplicationController}}
  - {{path: spec/jobTemplate/spec/template/spec/volumes/persistentVolumeClaim/claimName, kind: CronJob}}
  - {{path: spec/template/spec/volumes/persistentVolumeClaim/claimName, kind: Job}}
  - {{path: spec/template/spec/volumes/persistentVolumeClaim/claimName, kind: DaemonSet}}
- kind: PersistentVolume
  version: v1
  fieldSpecs:
  - {{path: spec/volumeName, kind: PersistentVolumeClaim}}
  - {{path: rules/resourceNames, kind: ClusterRole}}
- kind: StorageClass
  version: v1
  group: storage.k8s.io
  fieldSpecs:
  - {{path: spec/storageClassName, kind: PersistentVolume}}
  - {{path: spec/storageClassName, kind: PersistentVolumeClaim}}
  - {{path: spec/volumeClaimTemplates/spec/storageClassName, kind: StatefulSet}}
- kind: PriorityClass
  version: v1
  group: scheduling.k8s.io
  fieldSpecs:
  - {{path: spec/priorityClassName, kind: Pod}}
  - {{path: spec/template/spec/priorityClassName, kind: StatefulSet}}
  - {{path: spec/template/spec/priorityClassName, kind: Deployment}}
  - {{path: spec/template/spec/priorityClassName, kind: ReplicationController}}
  - {{path: spec/jobTemplate/spec/template/spec/priorityClassName, kind: CronJob}}
  - {{path: spec/template/spec/priorityClassName, kind: Job}}
  - {{path: spec/template/spec/priorityClassName, kind: DaemonSet}}
- kind: IngressClass
  version: v1
  group: networking.k8s.io/v1
  fieldSpecs:
  - {{path: spec/ingressClassName, kind: Ingress}}
",
        cm = pod_refs(&POD_CONFIGMAP_REFS),
        secret = pod_refs(&POD_SECRET_REFS),
    )
}
