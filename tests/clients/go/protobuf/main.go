// A small client-go (v0.33) program that talks protobuf to an API server, the way kubelet,
// kube-scheduler and kube-controller-manager do, and checks that the server answers in
// protobuf: objects, lists, watch frames, errors. Run by tests/client_go.rs against Capstan.
//
// Usage: protobuf-client --kubeconfig FILE --namespace NS
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/clientcmd"
)

// seen records the Content-Type of every response.
type seen struct {
	mu    sync.Mutex
	types map[string]int
	next  http.RoundTripper
}

func (s *seen) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(r)
	if err == nil {
		ct := resp.Header.Get("Content-Type")
		s.mu.Lock()
		s.types[r.Method+" "+ct]++
		s.mu.Unlock()
	}
	return resp, err
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig")
	ns := flag.String("namespace", "default", "namespace to work in")
	benchPods := flag.Int("bench-pods", 0, "benchmark mode: create this many pods, then time LISTs and a watch in protobuf and JSON (bench.go)")
	benchUpdates := flag.Int("bench-updates", 1000, "benchmark mode: pod updates the watch measurement streams")
	serverPID := flag.Int("server-pid", 0, "benchmark mode: the server's pid, for its CPU time")
	flag.Parse()
	if *benchPods > 0 {
		runBench(*kubeconfig, *ns, *benchPods, *benchUpdates, *serverPID)
		return
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail("kubeconfig: %v", err)
	}
	// What kubelet, kube-scheduler and kube-controller-manager use by default.
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	rec := &seen{types: map[string]int{}}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { rec.next = rt; return rec }
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fail("client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cms := cs.CoreV1().ConfigMaps(*ns)

	created, err := cms.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "pb", Labels: map[string]string{"via": "protobuf"}},
		Data:       map[string]string{"a": "1", "b": ""},
		BinaryData: map[string][]byte{"bin": {0, 255}},
	}, metav1.CreateOptions{})
	if err != nil {
		fail("create: %v", err)
	}
	if created.Data["a"] != "1" || string(created.BinaryData["bin"]) != "\x00\xff" || created.UID == "" {
		fail("create returned %+v", created)
	}
	fmt.Println("ok create", created.ResourceVersion)

	list, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "via=protobuf"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "pb" || list.ResourceVersion == "" {
		fail("list: %v %+v", err, list)
	}
	fmt.Println("ok list", len(list.Items))

	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, LabelSelector: "via=protobuf"})
	if err != nil {
		fail("watch: %v", err)
	}
	cur := list.Items[0].DeepCopy()
	cur.Data["a"] = "2"
	if _, err := cms.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		fail("update: %v", err)
	}
	if err := cms.Delete(ctx, "pb", metav1.DeleteOptions{}); err != nil {
		fail("delete: %v", err)
	}
	var got []string
	for len(got) < 2 {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				fail("watch closed after %v", got)
			}
			if ev.Type == watch.Error {
				fail("watch error: %v", apierrors.FromObject(ev.Object))
			}
			cm, isCM := ev.Object.(*corev1.ConfigMap)
			if !isCM {
				fail("watch event object %T", ev.Object)
			}
			got = append(got, fmt.Sprintf("%s:%s", ev.Type, cm.Data["a"]))
		case <-ctx.Done():
			fail("watch: only %v", got)
		}
	}
	w.Stop()
	if strings.Join(got, ",") != "MODIFIED:2,DELETED:2" {
		fail("watch events %v", got)
	}
	fmt.Println("ok watch", strings.Join(got, ","))

	_, err = cms.Get(ctx, "pb", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		fail("get after delete: %v", err)
	}
	fmt.Println("ok notfound", err)

	// A protobuf-only Accept gets protobuf.
	only := *cfg
	only.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	cs2, _ := kubernetes.NewForConfig(&only)
	if _, err := cs2.CoreV1().Namespaces().Get(ctx, *ns, metav1.GetOptions{}); err != nil {
		fail("protobuf-only get: %v", err)
	}
	fmt.Println("ok protobuf-only accept")

	// The metadata client: PartialObjectMetadataList in protobuf.
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		fail("metadata client: %v", err)
	}
	ml, err := mc.Resource(corev1.SchemeGroupVersion.WithResource("namespaces")).List(ctx, metav1.ListOptions{})
	if err != nil || len(ml.Items) == 0 {
		fail("metadata list: %v", err)
	}
	fmt.Println("ok metadata list", len(ml.Items))

	rec.mu.Lock()
	defer rec.mu.Unlock()
	for k, n := range rec.types {
		fmt.Println("content-type", k, n)
		if !strings.Contains(k, "application/vnd.kubernetes.protobuf") {
			fail("a response was not protobuf: %s", k)
		}
	}
	fmt.Println("PASS")
}
