/**
 * The `SEP<MAC>.cnf.xml` the UCM simulator serves: the elements a SIP phone's configuration
 * has on a nonsecure cluster (docs/cnf-xml.md; element names as UCM writes them), with values of
 * our own. Pure.
 */
export interface CnfOptions {
  mac: string;
  /** UCM address (processNodeName) and its SIP ports. */
  ucmAddress: string;
  sipPort: number;
  sipTlsPort: number;
  tftpAddress: string;
  line: string;
  displayName: string;
}

export function cnfXml(o: CnfOptions): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<device xsi:type="axl:XIPPhone" ctiid="94" uuid="{lab-${o.mac.toLowerCase()}}">
  <fullConfig>true</fullConfig>
  <deviceProtocol>SIP</deviceProtocol>
  <sshUserId></sshUserId>
  <devicePool>
    <name>Default</name>
    <callManagerGroup>
      <name>Default</name>
      <members>
        <member priority="0">
          <callManager>
            <ports>
              <ethernetPhonePort>2000</ethernetPhonePort>
              <sipPort>${o.sipPort}</sipPort>
              <securedSipPort>${o.sipTlsPort}</securedSipPort>
            </ports>
            <processNodeName>${o.ucmAddress}</processNodeName>
          </callManager>
        </member>
      </members>
    </callManagerGroup>
  </devicePool>
  <sipProfile>
    <sipProxies>
      <registerWithProxy>true</registerWithProxy>
    </sipProxies>
    <sipLines>
      <line button="1" lineIndex="1">
        <featureID>9</featureID>
        <featureLabel>${o.displayName}</featureLabel>
        <proxy>USECALLMANAGER</proxy>
        <port>${o.sipPort}</port>
        <name>${o.line}</name>
        <displayName>${o.displayName}</displayName>
        <authName>${o.line}</authName>
        <contact>${o.line}</contact>
      </line>
    </sipLines>
  </sipProfile>
  <loadInformation>sip88xx.14-2-1-0001-14</loadInformation>
  <vendorConfig>
    <pcPort>0</pcPort>
    <garp>0</garp>
    <webAccess>0</webAccess>
  </vendorConfig>
  <tftpServer1>${o.tftpAddress}</tftpServer1>
  <deviceSecurityMode>1</deviceSecurityMode>
  <transportLayerProtocol>2</transportLayerProtocol>
  <certHash></certHash>
  <encrConfig>false</encrConfig>
</device>
`;
}
