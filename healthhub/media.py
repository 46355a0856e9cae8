"""Where uploaded media lives: MEDIA_ROOT on disk, or an S3 bucket named in the environment.

The settings module calls ``media_from_env(os.environ)``; the tests call it
with a plain dict.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

FILESYSTEM_BACKEND = "django.core.files.storage.FileSystemStorage"
S3_BACKEND = "storages.backends.s3.S3Storage"
BUCKET_VARIABLE = "AWS_STORAGE_BUCKET_NAME"
# Only mean something with a bucket: set without one, they are most likely
# beside a misspelt bucket variable, and media would quietly stay on one node.
S3_VARIABLES = (
    "AWS_S3_REGION_NAME",
    "AWS_S3_ENDPOINT_URL",
    "AWS_S3_CUSTOM_DOMAIN",
    "AWS_LOCATION",
    "AWS_DEFAULT_ACL",
)
# "none" sends no ACL, for buckets with ACLs disabled whose policy grants
# public reads. Anything private would break every image: URLs are unsigned.
ACLS = ("public-read", "none")
# Every stored name is new: covers and author photos get random names, each
# set of renditions a random folder, and file_overwrite=False never reuses
# a name. So browsers and CDNs may keep any object for a year.
CACHE_CONTROL = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class MediaStorage:
    """The default storage, MEDIA_URL and bucket ("" for MEDIA_ROOT) the settings use."""

    storage: dict
    url: str
    bucket: str = ""

    @property
    def origins(self) -> tuple[str, ...]:
        """Return the origin media is served from when it is not this site, for the CSP."""
        parts = urlsplit(self.url)
        return (f"{parts.scheme}://{parts.netloc}",) if parts.netloc else ()


def media_from_env(environ: Mapping[str, str]) -> MediaStorage:
    """Return the default storage, MEDIA_URL and bucket that ``environ`` asks for."""
    bucket = environ.get(BUCKET_VARIABLE, "").strip()
    if not bucket:
        stray = [name for name in S3_VARIABLES if environ.get(name, "").strip()]
        if stray:
            raise ImproperlyConfigured(
                f"{BUCKET_VARIABLE} is not set, so media stays in MEDIA_ROOT and these "
                f"variables would do nothing: {', '.join(stray)}. Set the bucket, or unset them."
            )
        return MediaStorage({"BACKEND": FILESYSTEM_BACKEND}, "/media/")
    options = s3_options(bucket, environ)
    return MediaStorage({"BACKEND": S3_BACKEND, "OPTIONS": options}, bucket_url(options), bucket)


def s3_options(bucket: str, environ: Mapping[str, str]) -> dict:
    """Return django-storages' S3Storage options for public, long-cached media in ``bucket``."""

    def value(name):
        return environ.get(name, "").strip()

    endpoint = value("AWS_S3_ENDPOINT_URL")
    if endpoint and urlsplit(endpoint).scheme not in {"http", "https"}:
        raise ImproperlyConfigured(
            f"AWS_S3_ENDPOINT_URL must be a URL such as https://minio.example.com, not {endpoint!r}."
        )
    domain = value("AWS_S3_CUSTOM_DOMAIN").rstrip("/")
    if "://" in domain:
        raise ImproperlyConfigured(
            f"AWS_S3_CUSTOM_DOMAIN is a host name such as cdn.example.com, without the scheme: "
            f"not {domain!r}."
        )
    acl = value("AWS_DEFAULT_ACL") or "public-read"
    if acl not in ACLS:
        raise ImproperlyConfigured(
            f"AWS_DEFAULT_ACL must be one of {', '.join(ACLS)}, not {acl!r}: "
            "cover images are linked without signatures, so every object must be public."
        )
    return {
        "bucket_name": bucket,
        "region_name": value("AWS_S3_REGION_NAME") or None,
        "endpoint_url": endpoint or None,
        "custom_domain": domain or None,
        "location": value("AWS_LOCATION").strip("/"),
        "default_acl": None if acl == "none" else acl,
        "querystring_auth": False,
        "file_overwrite": False,
        "object_parameters": {"CacheControl": CACHE_CONTROL},
    }


def bucket_url(options: dict) -> str:
    """Return the URL every media URL starts with, as S3Storage will build it, ending in "/"."""
    location = f"{options['location']}/" if options["location"] else ""
    if options["custom_domain"]:
        return f"https://{options['custom_domain']}/{location}"
    # Ask botocore, as S3Storage does: it picks the host or path style from
    # the bucket name, the endpoint and the region. Nothing goes over the
    # network for an unsigned URL.
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    client = boto3.session.Session().client(
        "s3",
        region_name=options["region_name"],
        endpoint_url=options["endpoint_url"],
        config=Config(signature_version=UNSIGNED),
    )
    placeholder = "_"
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": options["bucket_name"], "Key": location + placeholder}
    )
    return url.removesuffix(placeholder)
