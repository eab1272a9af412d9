from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from oauth2_provider import views as oauth2_views

from config.views import healthz
from operations.views import dashboard
from transfers.apis import api_not_found

admin.site.site_header = "개인정보 이전 중개 서비스 관리"
admin.site.site_title = "Consent broker"
admin.site.index_title = "관리"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/dashboard/", admin.site.admin_view(dashboard), name="dashboard"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # Only what operators' systems call. DOT's other pages (application registration above
    # all) would let any staff login make itself a client; operator clients are made by the
    # service transfers.services.operator_client_create, audited.
    path("o/", include(([
        path("token/", oauth2_views.TokenView.as_view(), name="token"),
        path("revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="revoke-token"),
        path("introspect/", oauth2_views.IntrospectTokenView.as_view(), name="introspect"),
    ], "oauth2_provider"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # The operator API (transfers) and the merchants' pages and webhooks (consent).
    path("api/", include("transfers.urls")),
    path("api/", include("settlement.urls")),
    # Anything else under /api/ is a JSON 404, like every other refusal of the API.
    re_path(r"^api/", api_not_found, name="api-not-found"),
    # The user's refund page (/c/<token>/refund), before the consent page's catch-all.
    path("", include("settlement.page_urls")),
    # The public privacy page (개인정보 처리방침), before the consent pages.
    path("", include("governance.urls")),
    path("", include("consent.urls")),
]
