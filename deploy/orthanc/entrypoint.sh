#!/bin/sh
# Fill the configuration from the environment, then run Orthanc in the foreground.
set -eu
: "${ORTHANC_USERNAME:=orthanc}" "${ORTHANC_PASSWORD:?set ORTHANC_PASSWORD}"
: "${CXR_PORTAL_DICOMWEB_URL:=http://web:8000/dicomweb/}" "${CXR_PACS_TOKEN:=}"
: "${CXR_PORTAL_DICOM_HOST:=dicom}" "${CXR_PORTAL_DICOM_PORT:=11112}"
sed -e "s|@ORTHANC_USERNAME@|${ORTHANC_USERNAME}|" -e "s|@ORTHANC_PASSWORD@|${ORTHANC_PASSWORD}|" \
    -e "s|@CXR_PORTAL_DICOMWEB_URL@|${CXR_PORTAL_DICOMWEB_URL}|" \
    -e "s|@CXR_PACS_TOKEN@|${CXR_PACS_TOKEN}|" \
    -e "s|@CXR_PORTAL_DICOM_HOST@|${CXR_PORTAL_DICOM_HOST}|" \
    -e "s|@CXR_PORTAL_DICOM_PORT@|${CXR_PORTAL_DICOM_PORT}|" \
    /etc/cxr-orthanc/orthanc.json.in > /tmp/orthanc.json
exec Orthanc /tmp/orthanc.json
