// watchorder replays upstream's "should receive events on concurrent watches in same order"
// conformance test: a producer creates, updates and deletes ConfigMaps every 5 ms while watches
// are started from each resourceVersion the first watch reports; every watch must then deliver
// the same next event. Usage: watchorder -kubeconfig FILE [-iterations N]. Exit 1 on mismatch.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	cachetools "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	watchtools "k8s.io/client-go/tools/watch"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "admin kubeconfig")
	iterations := flag.Int("iterations", 100, "watches to start")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	must(err)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	c := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("watchorder-%d", rand.Intn(1<<30))
	_, err = c.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	must(err)
	defer c.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})

	list, err := c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	must(err)
	rv := list.ResourceVersion
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); produce(ctx, c, ns, stop) }()

	lw := &cachetools.ListWatch{WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
		return c.CoreV1().ConfigMaps(ns).Watch(ctx, o)
	}}
	var wcs []watch.Interface
	for i := 0; i < *iterations; i++ {
		wc, err := watchtools.NewRetryWatcherWithContext(ctx, rv, lw)
		must(err)
		wcs = append(wcs, wc)
		rv = next(wcs[0])
		for j, wc := range wcs[1:] {
			if got := next(wc); got != rv {
				fmt.Fprintf(os.Stderr, "iteration %d: watch %d (started at its rv) got %s, the first watch got %s\n", i, j+1, got, rv)
				os.Exit(1)
			}
		}
	}
	close(stop)
	for _, wc := range wcs {
		wc.Stop()
	}
	<-done
	fmt.Printf("%d watches saw the same events in the same order\n", *iterations)
}

func next(w watch.Interface) string {
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			fmt.Fprintln(os.Stderr, "watch closed")
			os.Exit(1)
		}
		cm, ok := ev.Object.(*v1.ConfigMap)
		if !ok {
			fmt.Fprintf(os.Stderr, "unexpected %s event: %#v\n", ev.Type, ev.Object)
			os.Exit(1)
		}
		return cm.ResourceVersion
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "no event within 30 s")
		os.Exit(1)
	}
	return ""
}

// produce: upstream's produceConfigMapEvents (create, update or delete a random ConfigMap every 5 ms).
func produce(ctx context.Context, c kubernetes.Interface, ns string, stop chan struct{}) {
	name := func(i int) string { return fmt.Sprintf("cm-%d", i) }
	var existing []int
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	i, updates := 0, 0
	for range tick.C {
		op := rand.Intn(3)
		if len(existing) == 0 {
			op = 0
		}
		switch op {
		case 0:
			cm := &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name(i)}}
			if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				return
			}
			existing = append(existing, i)
			i++
		case 1:
			idx := rand.Intn(len(existing))
			cm := &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name(existing[idx])}, Data: map[string]string{"mutation": fmt.Sprint(updates)}}
			if _, err := c.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
				return
			}
			updates++
		default:
			idx := rand.Intn(len(existing))
			if err := c.CoreV1().ConfigMaps(ns).Delete(ctx, name(existing[idx]), metav1.DeleteOptions{}); err != nil {
				return
			}
			existing = append(existing[:idx], existing[idx+1:]...)
		}
		select {
		case <-stop:
			return
		default:
		}
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
