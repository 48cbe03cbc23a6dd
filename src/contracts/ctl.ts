/** The signed CTL the appliance serves, built once at start by the CTL service. */
export interface CtlSource {
  ctl(): Buffer;
}
