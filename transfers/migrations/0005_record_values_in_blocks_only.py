# The records' own values column goes once 0004 has moved every value into a block (a
# separate migration: PostgreSQL refuses to alter a table with pending trigger events in the
# same transaction as the data step).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('transfers', '0004_record_blocks'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='record',
            name='values',
        ),
        migrations.AlterField(
            model_name='record',
            name='block',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='transfers.recordblock', verbose_name='블록'),
        ),
        migrations.AlterField(
            model_name='record',
            name='subject',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='governance.datasubject', verbose_name='정보주체'),
        ),
    ]
