package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// kinds maps apiVersion/kind to the k8s.io/api type a rendered object must
// decode into. A kind missing here fails the test: add its type.
var kinds = map[string]func() metav1.Object{
	"v1/Namespace":                                    func() metav1.Object { return &corev1.Namespace{} },
	"v1/Service":                                      func() metav1.Object { return &corev1.Service{} },
	"v1/ServiceAccount":                               func() metav1.Object { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                                    func() metav1.Object { return &corev1.ConfigMap{} },
	"v1/Secret":                                       func() metav1.Object { return &corev1.Secret{} },
	"v1/ResourceQuota":                                func() metav1.Object { return &corev1.ResourceQuota{} },
	"v1/LimitRange":                                   func() metav1.Object { return &corev1.LimitRange{} },
	"autoscaling/v2/HorizontalPodAutoscaler":          func() metav1.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":                   func() metav1.Object { return &policyv1.PodDisruptionBudget{} },
	"scheduling.k8s.io/v1/PriorityClass":              func() metav1.Object { return &schedulingv1.PriorityClass{} },
	"apps/v1/Deployment":                              func() metav1.Object { return &appsv1.Deployment{} },
	"networking.k8s.io/v1/NetworkPolicy":              func() metav1.Object { return &networkingv1.NetworkPolicy{} },
	"networking.k8s.io/v1/Ingress":                    func() metav1.Object { return &networkingv1.Ingress{} },
	"rbac.authorization.k8s.io/v1/Role":               func() metav1.Object { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1/RoleBinding":        func() metav1.Object { return &rbacv1.RoleBinding{} },
	"rbac.authorization.k8s.io/v1/ClusterRole":        func() metav1.Object { return &rbacv1.ClusterRole{} },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() metav1.Object { return &rbacv1.ClusterRoleBinding{} },
}

// decodeStrict decodes one YAML object into its k8s.io/api type, failing on
// any field the type does not have.
func decodeStrict(doc []byte) (string, metav1.Object, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return "", nil, err
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return "", nil, err
	}
	newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return "", nil, fmt.Errorf("no k8s.io/api type registered for %s/%s", tm.APIVersion, tm.Kind)
	}
	obj := newObj()
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return "", nil, fmt.Errorf("%s/%s: %w", tm.APIVersion, tm.Kind, err)
	}
	return tm.Kind + " " + obj.GetNamespace() + "/" + obj.GetName(), obj, nil
}
