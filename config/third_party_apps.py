"""The libraries' admin sections named in Korean, as ours are ("한국어 (English)"): each
subclasses the library's own AppConfig and changes only its ``verbose_name``, so its label,
models, migrations and start-up code are the library's. Listed in INSTALLED_APPS in place of
the library's name. (Their models' names stay the libraries' English: renaming those would
change the libraries' migration state.)"""

from axes.apps import AppConfig as AxesAppConfig
from django_celery_beat.apps import BeatConfig
from django_otp.plugins.otp_static.apps import DefaultConfig as StaticConfig
from django_otp.plugins.otp_totp.apps import DefaultConfig as TotpConfig
from oauth2_provider.apps import DOTConfig


class LoginLockoutConfig(AxesAppConfig):
    verbose_name = "로그인 시도와 잠금 (axes: login attempts and lock-outs)"


class OperatorApiAuthConfig(DOTConfig):
    verbose_name = "사업자 API 인증 (OAuth2: applications and tokens)"


class SecondFactorAppConfig(TotpConfig):
    verbose_name = "2단계 인증: 인증 앱 (second factor: TOTP devices)"


class RecoveryCodesConfig(StaticConfig):
    verbose_name = "2단계 인증: 복구 코드 (second factor: recovery codes)"


class PeriodicTasksConfig(BeatConfig):
    verbose_name = "주기 작업 (Celery beat: periodic tasks)"
