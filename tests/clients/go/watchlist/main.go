// Command watchlist checks WatchList (KEP-3157) against an API server with a real client-go
// informer: KUBE_FEATURE_WatchListClient=true must be set, the informer must sync from one
// streaming watch (sendInitialEvents, no LIST), and a raw watch must end its initial events with
// the k8s.io/initial-events-end bookmark. Usage: watchlist -kubeconfig FILE -namespace NS.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// recorder keeps the request URLs for configmaps, to tell a WatchList from LIST+WATCH.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	urls []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.Contains(req.URL.Path, "/configmaps") && req.Method == http.MethodGet {
		r.mu.Lock()
		r.urls = append(r.urls, req.URL.RequestURI())
		r.mu.Unlock()
	}
	return r.next.RoundTrip(req)
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.urls...)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file")
	ns := flag.String("namespace", "default", "namespace to use")
	count := flag.Int("count", 25, "configmaps to create before the informer starts")
	flag.Parse()
	if !clientfeatures.FeatureGates().Enabled(clientfeatures.WatchListClient) {
		fail("the WatchListClient feature is off: set KUBE_FEATURE_WatchListClient=true")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail("kubeconfig: %v", err)
	}
	rec := &recorder{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { rec.next = rt; return rec })
	client := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cms := client.CoreV1().ConfigMaps(*ns)
	for i := 0; i < *count; i++ {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("wl-%03d", i)}, Data: map[string]string{"i": strconv.Itoa(i)}}
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			fail("create: %v", err)
		}
	}

	// 1. A raw WatchList: every object as ADDED, then the bookmark that ends the initial events.
	w, err := cms.Watch(ctx, metav1.ListOptions{
		SendInitialEvents:    ptr(true),
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
		AllowWatchBookmarks:  true,
	})
	if err != nil {
		fail("watchlist: %v", err)
	}
	added, maxRV := 0, 0
	for ev := range w.ResultChan() {
		switch ev.Type {
		case watch.Added:
			// Only ours: the namespace may hold others (kube-root-ca.crt).
			cm := ev.Object.(*corev1.ConfigMap)
			if strings.HasPrefix(cm.Name, "wl-") {
				added++
			}
			rv, _ := strconv.Atoi(cm.ResourceVersion)
			if rv > maxRV {
				maxRV = rv
			}
			continue
		case watch.Bookmark:
			cm := ev.Object.(*corev1.ConfigMap)
			if cm.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
				fail("bookmark without %s: %v", metav1.InitialEventsAnnotationKey, cm.Annotations)
			}
			rv, _ := strconv.Atoi(cm.ResourceVersion)
			if rv < maxRV {
				fail("bookmark resourceVersion %d older than an initial object (%d)", rv, maxRV)
			}
		default:
			fail("unexpected %s before the initial-events-end bookmark: %v", ev.Type, ev.Object)
		}
		break
	}
	w.Stop()
	if added != *count {
		fail("watchlist sent %d initial objects, want %d", added, *count)
	}
	fmt.Printf("raw watchlist: %d initial events, then the initial-events-end bookmark\n", added)

	// 2. Validation as upstream: sendInitialEvents needs resourceVersionMatch=NotOlderThan.
	_, err = cms.Watch(ctx, metav1.ListOptions{SendInitialEvents: ptr(true), AllowWatchBookmarks: true})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan") {
		fail("watchlist without resourceVersionMatch: got %v", err)
	}
	fmt.Println("invalid watchlist options: 422 as upstream")

	// 3. An informer with WatchListClient on: synced from one streaming watch, no LIST.
	before := len(rec.seen())
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(*ns))
	inf := factory.Core().V1().ConfigMaps().Informer()
	added2 := make(chan string, 128)
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		if cm, ok := obj.(*corev1.ConfigMap); ok {
			added2 <- cm.Name
		}
	}})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		fail("informer did not sync")
	}
	ours := 0
	for _, k := range inf.GetStore().ListKeys() {
		if strings.Contains(k, "/wl-") {
			ours++
		}
	}
	if n := ours; n != *count {
		fail("informer holds %d objects, want %d", n, *count)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "wl-late"}}, metav1.CreateOptions{}); err != nil {
		fail("create: %v", err)
	}
	for {
		select {
		case name := <-added2:
			if name != "wl-late" {
				continue
			}
		case <-ctx.Done():
			fail("the informer never saw wl-late")
		}
		break
	}
	urls := rec.seen()[before:]
	streamed := false
	for _, u := range urls {
		if !strings.Contains(u, "watch=true") {
			fail("the informer made a LIST (fell back from WatchList): %s (all: %v)", u, urls)
		}
		if strings.Contains(u, "sendInitialEvents=true") && strings.Contains(u, "resourceVersionMatch=NotOlderThan") {
			streamed = true
		}
	}
	if !streamed {
		fail("no WatchList request among %v", urls)
	}
	fmt.Printf("informer synced %d objects from a WatchList and followed a new one\n", *count)
	fmt.Println("OK")
}

func ptr[T any](v T) *T { return &v }
