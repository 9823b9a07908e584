// Command cycle exercises what every client-go controller does against an API server: the
// read-modify-write cycle (Get, change, Update) for each kind kubectl can create, list
// pagination through tools/pager, a watch with bookmarks, server-side apply (applyconfigurations,
// conflicts and force) and strategic merge patch. It prints one line per check and "OK" at the
// end; any difference from upstream's behaviour exits 1 naming it.
// Usage: cycle -kubeconfig FILE -namespace NS.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/pager"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func check(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

// typed is the Get/Update pair of one kind's typed client.
type typed[T metav1.Object] struct {
	get    func(context.Context, string, metav1.GetOptions) (T, error)
	update func(context.Context, T, metav1.UpdateOptions) (T, error)
}

// rmw reads the object, labels it and writes it back whole, as a controller does.
func rmw[T metav1.Object](ctx context.Context, kind, name string, c typed[T]) {
	obj, err := c.get(ctx, name, metav1.GetOptions{})
	check(err, kind+" get")
	before := obj.GetResourceVersion()
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels["cycle"] = "updated"
	obj.SetLabels(labels)
	out, err := c.update(ctx, obj, metav1.UpdateOptions{})
	check(err, kind+" update")
	if out.GetLabels()["cycle"] != "updated" || out.GetResourceVersion() == before {
		fail("%s update: labels %v, resourceVersion %s (was %s)", kind, out.GetLabels(), out.GetResourceVersion(), before)
	}
	fmt.Printf("rmw %s\n", kind)
}

func podSpec(restart corev1.RestartPolicy) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "cycle"}},
		Spec: corev1.PodSpec{
			RestartPolicy: restart,
			Containers: []corev1.Container{{
				Name: "c", Image: "busybox",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("100m"),
				}},
			}},
		},
	}
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file")
	ns := flag.String("namespace", "default", "namespace to use")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	check(err, "kubeconfig")
	cs, err := kubernetes.NewForConfig(cfg)
	check(err, "client")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	create := metav1.CreateOptions{}
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cycle"}}

	// --- Read-modify-write for each kind `kubectl create` makes. ---
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: meta(*ns + "-extra")}, create)
	check(err, "namespace create")
	rmw(ctx, "Namespace", *ns+"-extra", typed[*corev1.Namespace]{cs.CoreV1().Namespaces().Get, cs.CoreV1().Namespaces().Update})

	cm := cs.CoreV1().ConfigMaps(*ns)
	_, err = cm.Create(ctx, &corev1.ConfigMap{ObjectMeta: meta("cm"), Data: map[string]string{"a": "1"}, BinaryData: map[string][]byte{"b": {0, 1, 2}}}, create)
	check(err, "configmap create")
	rmw(ctx, "ConfigMap", "cm", typed[*corev1.ConfigMap]{cm.Get, cm.Update})

	sec := cs.CoreV1().Secrets(*ns)
	_, err = sec.Create(ctx, &corev1.Secret{ObjectMeta: meta("sec"), Data: map[string][]byte{"k": []byte("v\x00\xff")}}, create)
	check(err, "secret create")
	rmw(ctx, "Secret", "sec", typed[*corev1.Secret]{sec.Get, sec.Update})
	if s, _ := sec.Get(ctx, "sec", metav1.GetOptions{}); string(s.Data["k"]) != "v\x00\xff" {
		fail("secret data changed: %q", s.Data["k"])
	}

	sa := cs.CoreV1().ServiceAccounts(*ns)
	_, err = sa.Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta("sa")}, create)
	check(err, "serviceaccount create")
	rmw(ctx, "ServiceAccount", "sa", typed[*corev1.ServiceAccount]{sa.Get, sa.Update})

	svc := cs.CoreV1().Services(*ns)
	_, err = svc.Create(ctx, &corev1.Service{ObjectMeta: meta("svc"), Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "cycle"},
		Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
	}}, create)
	check(err, "service create")
	rmw(ctx, "Service", "svc", typed[*corev1.Service]{svc.Get, svc.Update})

	quota := cs.CoreV1().ResourceQuotas(*ns)
	_, err = quota.Create(ctx, &corev1.ResourceQuota{ObjectMeta: meta("quota"), Spec: corev1.ResourceQuotaSpec{
		Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("100")},
	}}, create)
	check(err, "resourcequota create")
	rmw(ctx, "ResourceQuota", "quota", typed[*corev1.ResourceQuota]{quota.Get, quota.Update})

	dep := cs.AppsV1().Deployments(*ns)
	one := int32(1)
	_, err = dep.Create(ctx, &appsv1.Deployment{ObjectMeta: meta("dep"), Spec: appsv1.DeploymentSpec{
		Replicas: &one, Selector: sel, Template: podSpec(corev1.RestartPolicyAlways),
	}}, create)
	check(err, "deployment create")
	rmw(ctx, "Deployment", "dep", typed[*appsv1.Deployment]{dep.Get, dep.Update})

	job := cs.BatchV1().Jobs(*ns)
	_, err = job.Create(ctx, &batchv1.Job{ObjectMeta: meta("job"), Spec: batchv1.JobSpec{Template: podSpec(corev1.RestartPolicyOnFailure)}}, create)
	check(err, "job create")
	rmw(ctx, "Job", "job", typed[*batchv1.Job]{job.Get, job.Update})

	cj := cs.BatchV1().CronJobs(*ns)
	_, err = cj.Create(ctx, &batchv1.CronJob{ObjectMeta: meta("cj"), Spec: batchv1.CronJobSpec{
		Schedule: "*/5 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: podSpec(corev1.RestartPolicyOnFailure)}},
	}}, create)
	check(err, "cronjob create")
	rmw(ctx, "CronJob", "cj", typed[*batchv1.CronJob]{cj.Get, cj.Update})

	ing := cs.NetworkingV1().Ingresses(*ns)
	prefix := networkingv1.PathTypePrefix
	_, err = ing.Create(ctx, &networkingv1.Ingress{ObjectMeta: meta("ing"), Spec: networkingv1.IngressSpec{
		Rules: []networkingv1.IngressRule{{Host: "a.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "svc", Port: networkingv1.ServiceBackendPort{Number: 80},
				}},
			}}},
		}}},
	}}, create)
	check(err, "ingress create")
	rmw(ctx, "Ingress", "ing", typed[*networkingv1.Ingress]{ing.Get, ing.Update})

	pdb := cs.PolicyV1().PodDisruptionBudgets(*ns)
	minAvail := intstr.FromInt32(1)
	_, err = pdb.Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: meta("pdb"), Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: &minAvail, Selector: sel,
	}}, create)
	check(err, "pdb create")
	rmw(ctx, "PodDisruptionBudget", "pdb", typed[*policyv1.PodDisruptionBudget]{pdb.Get, pdb.Update})

	pc := cs.SchedulingV1().PriorityClasses()
	_, err = pc.Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: meta(*ns + "-pc"), Value: 1000}, create)
	check(err, "priorityclass create")
	rmw(ctx, "PriorityClass", *ns+"-pc", typed[*schedulingv1.PriorityClass]{pc.Get, pc.Update})

	rules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}}
	role := cs.RbacV1().Roles(*ns)
	_, err = role.Create(ctx, &rbacv1.Role{ObjectMeta: meta("role"), Rules: rules}, create)
	check(err, "role create")
	rmw(ctx, "Role", "role", typed[*rbacv1.Role]{role.Get, role.Update})
	rb := cs.RbacV1().RoleBindings(*ns)
	subjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "sa", Namespace: *ns}}
	_, err = rb.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: meta("rb"), Subjects: subjects,
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "role"}}, create)
	check(err, "rolebinding create")
	rmw(ctx, "RoleBinding", "rb", typed[*rbacv1.RoleBinding]{rb.Get, rb.Update})
	cr := cs.RbacV1().ClusterRoles()
	_, err = cr.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: meta(*ns + "-cr"), Rules: rules}, create)
	check(err, "clusterrole create")
	rmw(ctx, "ClusterRole", *ns+"-cr", typed[*rbacv1.ClusterRole]{cr.Get, cr.Update})
	crb := cs.RbacV1().ClusterRoleBindings()
	_, err = crb.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: meta(*ns + "-crb"), Subjects: subjects,
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: *ns + "-cr"}}, create)
	check(err, "clusterrolebinding create")
	rmw(ctx, "ClusterRoleBinding", *ns+"-crb", typed[*rbacv1.ClusterRoleBinding]{crb.Get, crb.Update})

	// A stale write is a conflict, as every controller's retry loop expects.
	stale, err := cm.Get(ctx, "cm", metav1.GetOptions{})
	check(err, "configmap get")
	fresh := stale.DeepCopy()
	fresh.Data["a"] = "2"
	_, err = cm.Update(ctx, fresh, metav1.UpdateOptions{})
	check(err, "configmap update")
	if _, err = cm.Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		fail("stale update: want a Conflict, got %v", err)
	}
	fmt.Println("stale update conflicts")

	// --- List pagination through tools/pager. ---
	for i := 0; i < 7; i++ {
		_, err = cm.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Name: "page-" + strconv.Itoa(i), Labels: map[string]string{"page": "yes"},
		}}, create)
		check(err, "configmap create")
	}
	pages := 0
	p := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		pages++
		return cm.List(ctx, opts)
	})
	p.PageSize = 3
	names := []string{}
	err = p.EachListItem(ctx, metav1.ListOptions{LabelSelector: "page=yes"}, func(o runtime.Object) error {
		names = append(names, o.(*corev1.ConfigMap).Name)
		return nil
	})
	check(err, "paged list")
	if len(names) != 7 || pages != 3 {
		fail("paged list: %d items in %d pages: %v", len(names), pages, names)
	}
	fmt.Printf("paged list: %d items in %d pages\n", len(names), pages)

	// --- Watch with bookmarks from a list's resourceVersion. ---
	list, err := cm.List(ctx, metav1.ListOptions{LabelSelector: "watch=yes"})
	check(err, "list")
	_, err = cm.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "watched", Labels: map[string]string{"watch": "yes"}}}, create)
	check(err, "configmap create")
	timeout := int64(4)
	w, err := cm.Watch(ctx, metav1.ListOptions{
		LabelSelector: "watch=yes", ResourceVersion: list.ResourceVersion,
		AllowWatchBookmarks: true, TimeoutSeconds: &timeout,
	})
	check(err, "watch")
	added, bookmarks := "", 0
	var addedRV, bookmarkRV int64
	for ev := range w.ResultChan() {
		switch ev.Type {
		case watch.Added:
			o := ev.Object.(*corev1.ConfigMap)
			added = o.Name
			addedRV, _ = strconv.ParseInt(o.ResourceVersion, 10, 64)
		case watch.Bookmark:
			bookmarks++
			bookmarkRV, _ = strconv.ParseInt(ev.Object.(*corev1.ConfigMap).ResourceVersion, 10, 64)
		default:
			fail("watch: unexpected %s %v", ev.Type, ev.Object)
		}
	}
	if added != "watched" || bookmarks == 0 || bookmarkRV < addedRV {
		fail("watch: added %q at %d, %d bookmarks (last at %d)", added, addedRV, bookmarks, bookmarkRV)
	}
	fmt.Println("watch: ADDED then BOOKMARK")

	// --- Server-side apply: ownership, conflicts, force. ---
	force := metav1.ApplyOptions{FieldManager: "cycle-b", Force: true}
	applied, err := cm.Apply(ctx, corev1ac.ConfigMap("applied", *ns).WithData(map[string]string{"x": "1", "y": "2"}),
		metav1.ApplyOptions{FieldManager: "cycle-a"})
	check(err, "apply")
	if len(applied.ManagedFields) != 1 || applied.ManagedFields[0].Manager != "cycle-a" ||
		applied.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply {
		fail("apply: managedFields %+v", applied.ManagedFields)
	}
	_, err = cm.Apply(ctx, corev1ac.ConfigMap("applied", *ns).WithData(map[string]string{"x": "other"}),
		metav1.ApplyOptions{FieldManager: "cycle-b"})
	if !apierrors.IsConflict(err) {
		fail("apply by another manager: want a Conflict, got %v", err)
	}
	applied, err = cm.Apply(ctx, corev1ac.ConfigMap("applied", *ns).WithData(map[string]string{"x": "other"}), force)
	check(err, "forced apply")
	if applied.Data["x"] != "other" || applied.Data["y"] != "2" || len(applied.ManagedFields) != 2 {
		fail("forced apply: data %v, managedFields %+v", applied.Data, applied.ManagedFields)
	}
	// Dropping a field from one's apply configuration removes it when nobody else owns it.
	applied, err = cm.Apply(ctx, corev1ac.ConfigMap("applied", *ns).WithData(map[string]string{}),
		metav1.ApplyOptions{FieldManager: "cycle-a"})
	check(err, "apply without y")
	if _, ok := applied.Data["y"]; ok || applied.Data["x"] != "other" {
		fail("apply without y: data %v", applied.Data)
	}
	fmt.Println("server-side apply: conflict, force, field removal")

	// --- Strategic merge patch: lists merge by their keys. ---
	patched, err := dep.Patch(ctx, "dep", types.StrategicMergePatchType, []byte(
		`{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"nginx"}]}}}}`), metav1.PatchOptions{})
	check(err, "strategic merge patch")
	if c := patched.Spec.Template.Spec.Containers; len(c) != 2 || c[0].Name != "side" || c[1].Name != "c" {
		fail("strategic merge patch: containers %+v, want side then c (upstream puts the patch's new items first)", c)
	}
	patched, err = dep.Patch(ctx, "dep", types.StrategicMergePatchType, []byte(
		`{"spec":{"template":{"spec":{"containers":[{"name":"side","$patch":"delete"}]}}}}`), metav1.PatchOptions{})
	check(err, "strategic merge patch delete")
	if c := patched.Spec.Template.Spec.Containers; len(c) != 1 || c[0].Name != "c" || c[0].Resources.Requests.Cpu().String() != "100m" {
		fail("strategic merge patch $patch delete: %+v", c)
	}
	fmt.Println("strategic merge patch: merge by name, $patch delete")
	fmt.Println("OK")
}
