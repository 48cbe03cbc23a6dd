/** SCCP's dependency edge to the TLS proxy's inspector plug-in interface. */
export type {
  InspectedConnection,
  Inspector,
  InspectorFactory,
  InspectorPipe,
  SignalingSession,
} from '../../tls/inspector';
