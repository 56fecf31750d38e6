// A 3D preview of an STL scan (three.js, loaded only when a preview opens). Drag to turn it,
// scroll to zoom.

import { useEffect, useRef, useState } from 'react';
import {
  AmbientLight,
  Box3,
  Color,
  DirectionalLight,
  Mesh,
  MeshStandardMaterial,
  PerspectiveCamera,
  Scene,
  Vector3,
  WebGLRenderer,
} from 'three';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
import { STLLoader } from 'three/examples/jsm/loaders/STLLoader.js';

export default function StlViewer({ url, name }: { url: string; name: string }) {
  const host = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<'loading' | 'ready' | string>('loading');

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    let disposed = false;
    let renderer: WebGLRenderer | null = null;
    let frame = 0;
    let controls: OrbitControls | null = null;
    const width = el.clientWidth || 480;
    const height = el.clientHeight || 320;

    (async () => {
      try {
        const response = await fetch(url);
        if (!response.ok) throw new Error(`could not read the file (${response.status})`);
        const geometry = new STLLoader().parse(await response.arrayBuffer());
        if (disposed) return;
        geometry.computeVertexNormals();
        geometry.center();
        const scene = new Scene();
        scene.background = new Color(0xf4f5f7);
        const mesh = new Mesh(geometry, new MeshStandardMaterial({ color: 0xe8dcc8, roughness: 0.55, metalness: 0.05 }));
        scene.add(mesh);
        scene.add(new AmbientLight(0xffffff, 0.6));
        const light = new DirectionalLight(0xffffff, 1.6);
        light.position.set(1, 2, 3);
        scene.add(light);
        const size = new Box3().setFromObject(mesh).getSize(new Vector3()).length() || 1;
        const camera = new PerspectiveCamera(40, width / height, size / 100, size * 10);
        camera.position.set(0, -size * 0.9, size * 0.9);
        camera.lookAt(0, 0, 0);
        renderer = new WebGLRenderer({ antialias: true });
        renderer.setPixelRatio(window.devicePixelRatio);
        renderer.setSize(width, height);
        el.appendChild(renderer.domElement);
        controls = new OrbitControls(camera, renderer.domElement);
        const r = renderer;
        const c = controls;
        const loop = () => {
          c.update();
          r.render(scene, camera);
          frame = requestAnimationFrame(loop);
        };
        loop();
        setState('ready');
      } catch (e) {
        if (!disposed) setState(e instanceof Error ? e.message : String(e));
      }
    })();

    return () => {
      disposed = true;
      cancelAnimationFrame(frame);
      controls?.dispose();
      if (renderer) {
        renderer.dispose();
        renderer.domElement.remove();
      }
    };
  }, [url]);

  return (
    <div className="stl-viewer" data-testid="stl-preview" data-state={state === 'loading' || state === 'ready' ? state : 'error'}>
      <div ref={host} className="stl-canvas" aria-label={`3D preview of ${name}`} role="img" />
      {state === 'loading' && <p className="muted">Loading 3D preview…</p>}
      {state !== 'loading' && state !== 'ready' && <p className="field-error">No 3D preview: {state}</p>}
    </div>
  );
}
